// Package signing issues and checks the tokens of signed URLs: an HMAC-SHA256 over a path
// prefix, an expiry and optionally the client's address. A token travels as a path prefix,
// /t/<token>/vod/..., so that the relative URIs of HLS playlists carry it to every playlist and
// segment below it without any rewriting; edges strip it before the cache key is made.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// PathPrefix is what a signed request path starts with, before the token.
const PathPrefix = "/t/"

// MaxTokenLen bounds a token.
const MaxTokenLen = 512

var (
	// ErrMissing: the request has no token.
	ErrMissing = errors.New("signing: no token")
	// ErrInvalid: the token is malformed, or its signature matches no key.
	ErrInvalid = errors.New("signing: bad token")
	// ErrExpired: the token's expiry has passed.
	ErrExpired = errors.New("signing: token expired")
	// ErrScope: the token does not cover this path or this client.
	ErrScope = errors.New("signing: token does not cover this request")
)

// Claims are what a token grants.
type Claims struct {
	Prefix  string    // path prefix the token covers, "/vod/title-000/"
	Expires time.Time // second precision
	IP      string    // client address the token is bound to; "" for any
}

var enc = base64.RawURLEncoding.Strict() // one spelling per token: no padding bits to vary

// Sign returns a token for c, signed with key.
func Sign(key []byte, c Claims) string {
	body := "v1~" + strconv.FormatInt(c.Expires.Unix(), 10) + "~" + enc.EncodeToString([]byte(c.Prefix)) + "~" + enc.EncodeToString([]byte(c.IP))
	return body + "~" + enc.EncodeToString(mac(key, body))
}

func mac(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)[:16]
}

// Parse checks a token's form and signature against keys (any may match, so keys can rotate:
// sign with the new one while the old one still verifies) and returns its claims.
func Parse(keys [][]byte, token string) (Claims, error) {
	var c Claims
	if len(token) == 0 || len(token) > MaxTokenLen {
		return c, ErrInvalid
	}
	i := strings.LastIndexByte(token, '~')
	if i < 0 {
		return c, ErrInvalid
	}
	body, sig := token[:i], token[i+1:]
	got, err := enc.DecodeString(sig)
	if err != nil || len(got) != 16 {
		return c, ErrInvalid
	}
	ok := false
	for _, k := range keys {
		if len(k) > 0 && hmac.Equal(got, mac(k, body)) {
			ok = true
		}
	}
	if !ok {
		return c, ErrInvalid
	}
	f := strings.Split(body, "~")
	if len(f) != 4 || f[0] != "v1" {
		return c, ErrInvalid
	}
	exp, err := strconv.ParseInt(f[1], 10, 64)
	prefix, err2 := enc.DecodeString(f[2])
	ip, err3 := enc.DecodeString(f[3])
	if err != nil || err2 != nil || err3 != nil || len(prefix) == 0 || prefix[0] != '/' {
		return c, ErrInvalid
	}
	c.Prefix, c.Expires, c.IP = string(prefix), time.Unix(exp, 0), string(ip)
	return c, nil
}

// Check verifies that a signed request path (/t/<token>/rest) may be served to client at now,
// and returns the path without the token.
func Check(keys [][]byte, path, client string, now time.Time) (string, error) {
	if !strings.HasPrefix(path, PathPrefix) {
		return "", ErrMissing
	}
	rest := path[len(PathPrefix):]
	j := strings.IndexByte(rest, '/')
	if j <= 0 {
		return "", ErrInvalid
	}
	c, err := Parse(keys, rest[:j])
	if err != nil {
		return "", err
	}
	inner := rest[j:]
	switch {
	case !now.Before(c.Expires):
		return "", ErrExpired
	case !strings.HasPrefix(inner, c.Prefix):
		return "", ErrScope
	case c.IP != "" && c.IP != client:
		return "", ErrScope
	}
	return inner, nil
}

// ParseKeys decodes comma-separated base64 keys (standard or URL alphabet, 16 bytes at least).
func ParseKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var k []byte
		var err error
		for _, e := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if k, err = e.DecodeString(f); err == nil {
				break
			}
		}
		if err != nil || len(k) < 16 {
			return nil, errors.New("signing key: want base64 of at least 16 bytes (openssl rand -base64 32)")
		}
		keys = append(keys, k)
	}
	return keys, nil
}
