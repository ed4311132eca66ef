package httpx

// DefaultNotsentLowat is the TCP_NOTSENT_LOWAT the edge and the balancer set on their client
// connections by default (--notsent-lowat): a response is written 16 KiB ahead of what TCP can
// send rather than up to the whole send buffer (megabytes once autotuned). Bytes queued unsent
// are sent later from whatever runs the client's ACKs, on one machine the client's own reads,
// at a higher cost per byte: with it, 1 MB segments under wrk cost the edge about half the CPU
// per request and the balancer about two thirds, and 2 KB and 100 KB answers measured the same
// (figures in edge/README.md and loadbalancer/README.md). On the balancer 4 KiB to 32 KiB
// measured alike, 128 KiB and more gained less the larger (bench/README.md).
const DefaultNotsentLowat = 16 << 10
