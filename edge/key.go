package edge

import (
	"bytes"
	"slices"

	"edgecdn/internal/urlpath"
)

// AppendKey appends to dst the cache key of a request: the clean path (package urlpath) and,
// when allow names query parameters, those parameters sorted by name ("?a=1&b=2"). Every other
// query parameter is dropped, so that a query string cannot split the cache (one object stored
// many times) or poison it (a crafted variant stored under a shared key). Host is not part of
// the key: an edge serves one catalog.
func AppendKey(dst, rawPath, rawQuery []byte, allow []string) ([]byte, error) {
	dst, err := urlpath.Clean(dst, rawPath)
	if err != nil || len(allow) == 0 || len(rawQuery) == 0 {
		return dst, err
	}
	// Collect allowed pairs; few parameters are allowed, so a small fixed array suffices.
	var pairs [8][]byte
	n := 0
	for q := rawQuery; len(q) > 0 && n < len(pairs); {
		var kv []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, nil
		}
		name := kv
		if i := bytes.IndexByte(kv, '='); i >= 0 {
			name = kv[:i]
		}
		if len(name) == 0 || !allowed(allow, name) {
			continue
		}
		if bytes.ContainsAny(kv, "#\x00\r\n ") {
			continue
		}
		pairs[n] = kv
		n++
	}
	if n == 0 {
		return dst, nil
	}
	slices.SortFunc(pairs[:n], bytes.Compare)
	for i, kv := range pairs[:n] {
		if i == 0 {
			dst = append(dst, '?')
		} else {
			if bytes.Equal(kv, pairs[i-1]) {
				continue // a repeated parameter is one parameter
			}
			dst = append(dst, '&')
		}
		dst = append(dst, kv...)
	}
	return dst, nil
}

func allowed(allow []string, name []byte) bool {
	for _, a := range allow {
		if a == string(name) { // no allocation: the conversion is only compared
			return true
		}
	}
	return false
}
