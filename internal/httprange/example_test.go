package httprange_test

import (
	"fmt"
	"strings"

	"edgecdn/internal/httprange"
)

func ExampleParse() {
	const size = 1000
	var buf [httprange.MaxRanges]httprange.Range // keeps Parse allocation-free
	rs, err := httprange.Parse(buf[:0], []byte("bytes=500-599, -100, 550-649"), size)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range httprange.Coalesce(rs) {
		fmt.Println(r.ContentRange(size))
	}

	_, err = httprange.Parse(buf[:0], []byte("bytes=2000-"), size)
	fmt.Println(err)
	// Output:
	// bytes 500-649/1000
	// bytes 900-999/1000
	// httprange: range not satisfiable
}

func ExampleMultipart() {
	content := "0123456789"
	m := httprange.NewMultipart([]httprange.Range{{Start: 0, Length: 2}, {Start: 8, Length: 2}},
		int64(len(content)), "text/plain", `"etag"`)
	fmt.Println("Content-Type:", m.ContentType())
	fmt.Println("Content-Length:", m.Len())
	fmt.Println()

	var body strings.Builder
	if _, err := m.WriteTo(&body, strings.NewReader(content)); err != nil {
		fmt.Println(err)
		return
	}
	// CRLFs are shown as newlines to keep the example readable.
	fmt.Print(strings.ReplaceAll(body.String(), "\r\n", "\n"))
	// Output:
	// Content-Type: multipart/byteranges; boundary=9d767e67313256ee3e45d0b5b96eb96d
	// Content-Length: 232
	//
	// --9d767e67313256ee3e45d0b5b96eb96d
	// Content-Type: text/plain
	// Content-Range: bytes 0-1/10
	//
	// 01
	// --9d767e67313256ee3e45d0b5b96eb96d
	// Content-Type: text/plain
	// Content-Range: bytes 8-9/10
	//
	// 89
	// --9d767e67313256ee3e45d0b5b96eb96d--
}
