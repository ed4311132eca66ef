// Package pathway holds the syntax of the names a player sees for a way to the content: HLS
// Content Steering PATHWAY-IDs, DASH service locations and the zones edgecdn uses as both.
package pathway

// MaxIDLen is the longest pathway ID.
const MaxIDLen = 64

// ValidID reports whether id is a pathway ID: 1 to MaxIDLen of [A-Za-z0-9._-] (rfc8216bis
// PATHWAY-ID's characters). Zone names are pathway IDs.
func ValidID[T ~string | ~[]byte](id T) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
