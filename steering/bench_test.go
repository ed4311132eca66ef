package steering

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkSteer is one ranking decision (GET /steer/<title>?zone=) in process, against a
// 3-zone cluster: decisions per second per core are 1e9 / ns/op.
func BenchmarkSteer(b *testing.B) {
	st := newStack(b, "zone-a", "zone-b", "zone-c")
	h := st.steer.Handler()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/steer/title-000?zone=zone-b")
	h(&ctx)
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
	}
}

// BenchmarkManifest is one steering manifest (GET /steering/<session>.json).
func BenchmarkManifest(b *testing.B) {
	st := newStack(b, "zone-a", "zone-b", "zone-c")
	h := st.steer.Handler()
	var ctx fasthttp.RequestCtx
	ss := session{Zone: "zone-b", Pathways: []string{"zone-a", "zone-b", "zone-c"}, MinBW: 400000, Nonce: "x"}
	ctx.Request.SetRequestURI("/steering/" + ss.encode() + ".json?_HLS_pathway=zone-b&_HLS_throughput=3000000")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
	}
}
