module edgecdn

go 1.26

require (
	github.com/VictoriaMetrics/metrics v1.35.1
	github.com/grafana/pyroscope-go v1.4.3
	github.com/valyala/fasthttp v1.74.0
)

require (
	github.com/grafana/pyroscope-go/godeltaprof v0.1.11 // indirect
	github.com/grafov/m3u8 v0.12.1 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/molecule-man/go-brrr v1.0.1 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	github.com/valyala/fastrand v1.1.0 // indirect
	github.com/valyala/histogram v1.2.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
