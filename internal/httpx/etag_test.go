package httpx

import (
	"crypto/sha256"
	"testing"
)

func TestStrongETag(t *testing.T) {
	sum := sha256.Sum256([]byte("segment"))
	e := StrongETag(sum)
	if got, ok := ETagSum(e); !ok || got != sum {
		t.Errorf("ETagSum(StrongETag) = %x, %v; want the sum back", got, ok)
	}
	for _, other := range []string{``, `"abc"`, `W/"` + string(e[1:]), `"` + string(e[1:65]) + `x"`, `"` + string(e[1:64]) + `zz"`} {
		if _, ok := ETagSum([]byte(other)); ok {
			t.Errorf("ETagSum(%q) names a sum", other)
		}
	}
}
