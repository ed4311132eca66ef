package httpx

import "encoding/hex"

// StrongETag returns the strong ETag edgecdn gives a body: its SHA-256 in hex, quoted
// ("\"<64 hex digits>\""). Origins send it and edges check every fill against it.
func StrongETag(sum [32]byte) []byte {
	b := make([]byte, 0, 66)
	b = append(b, '"')
	b = hex.AppendEncode(b, sum[:])
	return append(b, '"')
}

// ETagSum returns the SHA-256 a StrongETag names; ok is false for any other ETag.
func ETagSum(etag []byte) (sum [32]byte, ok bool) {
	if len(etag) != 66 || etag[0] != '"' || etag[65] != '"' {
		return sum, false
	}
	if _, err := hex.Decode(sum[:], etag[1:65]); err != nil {
		return sum, false
	}
	return sum, true
}
