package edge

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// TestCutFillResumes: an origin that closes mid-body, but answers a range request for the rest,
// gives the client the whole object in one response, and the edge stores it (a hit next).
// An answer to the range request with another ETag (the object changed) is not spliced in: the
// client's body is cut and nothing is stored.
func TestCutFillResumes(t *testing.T) {
	o := newFakeOrigin(t)
	body := randomBytes(300_000, 31)
	o.put("/vod/t/r/cut.ts", &fakeObject{body: body, cacheControl: "max-age=3600", truncate: 100_000, ranges: true})
	o.put("/vod/t/r/changed.ts", &fakeObject{body: body, cacheControl: "max-age=3600", truncate: 100_000, ranges: true,
		rangeETag: `"0000000000000000000000000000000000000000000000000000000000000000"`})
	srv, base := startEdge(t, Config{Origins: []string{o.url()}})

	resp, got, err, head := rawGet(t, base, "/vod/t/r/cut.ts", nil)
	if !head || err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("cut then resumed: head %v, status %v, %d of %d bytes, err %v; want the whole body", head, statusOf(resp), len(got), len(body), err)
	}
	if n := srv.m.fillResumed.Get(); n != 1 {
		t.Errorf("edgecdn_edge_fill_resumed_total = %d, want 1", n)
	}
	if n, r := o.count("/vod/t/r/cut.ts"), o.count("/vod/t/r/cut.ts range"); n != 1 || r != 1 {
		t.Errorf("origin asked %d times for the object and %d for a range, want 1 and 1", n, r)
	}
	resp2, got2, err2, _ := rawGet(t, base, "/vod/t/r/cut.ts", nil)
	if err2 != nil || !bytes.Equal(got2, body) || o.count("/vod/t/r/cut.ts") != 1 {
		t.Errorf("second request: %d bytes, err %v, origin asked %d times: want a hit", len(got2), err2, o.count("/vod/t/r/cut.ts"))
	} else if cs := resp2.Header.Get("Cache-Status"); !bytes.Contains([]byte(cs), []byte("hit")) {
		t.Errorf("second request Cache-Status %q, want a hit", cs)
	}

	_, got, err, _ = rawGet(t, base, "/vod/t/r/changed.ts", nil)
	if err == nil || len(got) >= len(body) {
		t.Fatalf("rest of a changed object: %d of %d bytes, err %v; want a cut body", len(got), len(body), err)
	}
	before := o.count("/vod/t/r/changed.ts")
	_, _, _, _ = rawGet(t, base, "/vod/t/r/changed.ts", nil)
	if o.count("/vod/t/r/changed.ts") == before {
		t.Error("a body spliced from two versions was stored: the next request did not go to the origin")
	}
}

func statusOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	io.Copy(io.Discard, r.Body)
	return r.StatusCode
}
