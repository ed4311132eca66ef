package edge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/httpx"
)

// A fill fetches one object from an origin for every client that asks for it meanwhile
// (request coalescing), and lets them read the body while it arrives. It runs on its own
// context with the fill timeout, never on a client's: one impatient player must not cancel a
// fill others wait on.
type fill struct {
	key   string
	stale *object // an expired copy being revalidated, or nil
	route route   // where it comes from, and whether this edge stores it
	gen   uint64  // the purge generation it began under (purge.go)

	head chan struct{} // closed once the fields below are set
	// Set before head closes, read-only after.
	err       error   // no usable answer from any origin
	status    int     // the origin's status (200, 304 on revalidation, or a 4xx passed through)
	obj       *object // 304: the refreshed object, ready to serve
	etag      []byte
	lastMod   []byte
	modTime   time.Time
	ctype     []byte
	cctl      []byte
	size      int64 // Content-Length; -1 when the origin did not say
	stored    bool  // the object will be cached if its body checks out
	passBody  []byte
	fwdStatus int

	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	n       int64
	final   bool  // the body is complete (or failed)
	bodyErr error // why the body failed: short, too long, wrong hash, origin gone
	done    chan struct{}
}

var (
	errShortBody = errors.New("origin body shorter than its Content-Length")
	errLongBody  = errors.New("origin body longer than its Content-Length")
	errHash      = errors.New("origin body does not match its ETag (SHA-256)")
	errTooLarge  = errors.New("object larger than --max-object")
)

// fillKey identifies a fill: requests coalesce per key and level, so that a request from a
// peer (a higher level) never waits on a fill that itself waits on a peer.
type fillKey struct {
	level int
	key   string
}

// join returns the fill in flight for key at rt's level, starting one if there is none. The
// cache is checked again under the lock, as groupcache's load does: a fill that finished
// between the caller's lookup and now has stored its object, and is no longer in flight.
func (s *Server) join(key string, stale *object, rt route) (f *fill, obj *object, collapsed bool) {
	fk := fillKey{rt.level, key}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.inflight[fk]; f != nil && f.failedBody() == nil {
		return f, nil, true
	}
	// A fill that has already failed is not joined: its clients have their error, and a
	// request that comes after it tries the origin again.
	if o, ok := s.cache.Peek(key); ok && o.fresh(time.Now()) {
		return nil, o, false
	}
	f = &fill{key: key, stale: stale, route: rt, gen: s.purgeGen(), head: make(chan struct{}), done: make(chan struct{}), size: -1}
	f.cond.L = &f.mu
	s.inflight[fk] = f
	s.wg.Add(1)
	go s.runFill(f)
	return f, nil, false
}

func (s *Server) runFill(f *fill) {
	defer s.wg.Done()
	defer close(f.done)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.FillTimeout)
	defer cancel()
	err := s.fetchInto(ctx, f)
	f.mu.Lock()
	if !f.final {
		f.final, f.bodyErr = true, err
	}
	f.cond.Broadcast()
	f.mu.Unlock()
	select {
	case <-f.head:
	default:
		f.err = err
		if f.err == nil {
			f.err = errors.New("fill ended without an answer")
		}
		close(f.head)
	}
	if err != nil {
		s.log.Warn("fill failed", "key", f.key, "err", err)
	}
	s.mu.Lock()
	if fk := (fillKey{f.route.level, f.key}); s.inflight[fk] == f { // not a newer fill that replaced a failed one
		delete(s.inflight, fk)
	}
	s.mu.Unlock()
}

// fetchInto runs one fill, as groupcache's load does: open the source (the owner peer, else
// the origins), publish the response head to the waiting clients, stream the body to them as it
// arrives, and store the object once its length and hash check out.
func (s *Server) fetchInto(ctx context.Context, f *fill) error {
	start := time.Now()
	res, err := s.openFill(ctx, f)
	if err != nil {
		return err
	}
	defer res.resp.Body.Close()
	now := time.Now()
	pol := parseCacheControl([]byte(res.resp.Header.Get("Cache-Control")), s.cfg.DefaultTTL)
	if body, err := s.publishHead(f, res, pol, now); !body || err != nil {
		return err
	}
	sum, rerr := s.streamBody(ctx, f, res)
	k := kindOf([]byte(f.key))
	s.countFetch(res, k, len(f.buf))
	s.m.originLatency.Since(start)
	if rerr != nil {
		s.m.fillRejected.Inc()
		if res.origin != nil {
			res.origin.fail(time.Now())
		}
		return fmt.Errorf("fill %s from %s: %w", f.key, res.source(), rerr)
	}
	if res.origin != nil {
		res.origin.ok()
	}
	s.storeFill(f, sum, k, pol, now)
	return nil
}

// openFill asks the fill's source: the peer of its route first, when it has one, then the
// origins. A stale copy's ETag makes the request conditional.
func (s *Server) openFill(ctx context.Context, f *fill) (fetchResult, error) {
	var etag []byte
	if f.stale != nil {
		etag = f.stale.etag
	}
	var (
		res fetchResult
		err error
	)
	if f.route.peer != "" && s.purgedLately(f.key) {
		f.route.peer = "" // a peer the purge has not reached yet would hand back the old bytes
	}
	if f.route.peer != "" {
		res, err = s.fetchPeer(ctx, f.route.peer, f.key, etag, f.route.level+1)
		if err != nil {
			s.m.peerErrors.Inc()
			s.log.Debug("peer fill failed; going to the origins", "key", f.key, "peer", f.route.peer, "err", err)
		}
	}
	if f.route.peer == "" || err != nil {
		res, err = s.origins.fetch(ctx, f.key, etag, nil)
		if err != nil {
			s.m.originErrors.Inc()
			return res, err
		}
	}
	return res, nil
}

// publishHead answers the waiting clients' heads (closes f.head). It reports whether a body
// follows to stream: not for a revalidation (304: the stale copy is fresh again), an answer
// passed through uncached (404, 403, ...), or an object over MaxObjectBytes.
func (s *Server) publishHead(f *fill, res fetchResult, pol cachePolicy, now time.Time) (body bool, err error) {
	resp := res.resp
	if resp.StatusCode == http.StatusNotModified && f.stale != nil {
		// Revalidated: the same body, fresh again.
		o := *f.stale
		o.stored, o.expires = now, now.Add(pol.ttl)
		if cc := resp.Header.Get("Cache-Control"); cc != "" {
			o.cacheControl = []byte(cc)
		}
		if f.route.store || f.stale != nil {
			s.cacheUnlessPurged(f, &o)
		}
		f.status, f.obj, f.fwdStatus = http.StatusNotModified, &o, http.StatusNotModified
		s.countFetch(res, kindOf([]byte(f.key)), 0)
		close(f.head)
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		// Passed through, never cached: 404s, 403s, and anything an edge does not store.
		f.passBody, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		f.status, f.fwdStatus = resp.StatusCode, resp.StatusCode
		f.ctype = []byte(resp.Header.Get("Content-Type"))
		close(f.head)
		return false, nil
	}

	size := resp.ContentLength
	if size > s.cfg.MaxObjectBytes {
		f.err = fmt.Errorf("%s: %d bytes: %w", f.key, size, errTooLarge)
		close(f.head)
		return false, f.err
	}
	f.status, f.fwdStatus, f.size = http.StatusOK, http.StatusOK, size
	f.etag = []byte(resp.Header.Get("ETag"))
	f.lastMod = []byte(resp.Header.Get("Last-Modified"))
	if t, err := http.ParseTime(string(f.lastMod)); err == nil {
		f.modTime = t
	}
	f.ctype = []byte(resp.Header.Get("Content-Type"))
	if len(f.ctype) == 0 {
		f.ctype = []byte("application/octet-stream")
	}
	f.cctl = []byte(resp.Header.Get("Cache-Control"))
	f.stored = pol.store && (f.route.store || s.hot.hit(f.key, now))
	if size >= 0 {
		f.buf = make([]byte, 0, size)
	} else {
		f.buf = make([]byte, 0, 64<<10)
	}
	close(f.head)
	return true, nil
}

// maxResumes is how many times a fill whose body is cut off picks up where it stopped.
const maxResumes = 2

// streamBody reads the body into f.buf, waking the clients that stream it as it arrives, and
// returns its SHA-256. A body cut off (its source died or closed early: the owner edge killed
// mid-body) goes on from the origins with a range request for the rest, so the clients
// already streaming it get the whole object (resumeBody). A body longer or shorter than
// announced, over MaxObjectBytes, cut off and not resumable, or whose hash is not the one its
// ETag names, is an error.
func (s *Server) streamBody(ctx context.Context, f *fill, res fetchResult) ([32]byte, error) {
	body, src := res.resp.Body, res.source()
	h := sha256.New()
	var rerr error
	for resumes := 0; ; {
		if int64(len(f.buf)) == f.size {
			// Everything announced has arrived; anything more is a broken origin.
			var one [1]byte
			if n, _ := io.ReadFull(body, one[:]); n > 0 {
				rerr = errLongBody
			}
			break
		}
		if len(f.buf) == cap(f.buf) {
			if int64(cap(f.buf)) >= s.cfg.MaxObjectBytes {
				rerr = errTooLarge
				break
			}
			f.mu.Lock()
			f.buf = append(f.buf[:cap(f.buf)], make([]byte, cap(f.buf))...)[:len(f.buf)]
			f.mu.Unlock()
		}
		end := min(cap(f.buf), len(f.buf)+256<<10)
		n, err := body.Read(f.buf[len(f.buf):end])
		if n > 0 {
			h.Write(f.buf[len(f.buf) : len(f.buf)+n])
			f.mu.Lock()
			f.buf = f.buf[:len(f.buf)+n]
			f.n = int64(len(f.buf))
			f.cond.Broadcast()
			f.mu.Unlock()
		}
		if err == nil {
			continue
		}
		if err == io.EOF && (f.size < 0 || f.n == f.size) {
			break
		}
		if resumes < maxResumes {
			r, resErr := s.resumeBody(ctx, f)
			if resErr == nil {
				resumes++
				s.m.fillResumed.Inc()
				s.log.Info("fill cut off; resumed from an origin", "key", f.key, "from", src, "at", f.n, "err", err)
				defer r.resp.Body.Close()
				body, src = r.resp.Body, r.source()
				continue
			}
			s.log.Debug("fill cut off; no resume", "key", f.key, "at", f.n, "err", resErr)
		}
		if err == io.EOF {
			rerr = errShortBody
		} else {
			rerr = fmt.Errorf("reading from %s: %w", src, err)
		}
		break
	}
	var sum [32]byte
	h.Sum(sum[:0])
	if rerr == nil && !etagMatchesHash(f.etag, sum) {
		rerr = errHash
	}
	return sum, rerr
}

// resumeBody asks the origins for the rest of a body cut off at f.n: "Range: bytes=N-" with
// If-Range, accepted only as a 206 for exactly the rest of the same object (Content-Range,
// Content-Length and the strong ETag the fill began with). The whole body's SHA-256 is still
// checked against that ETag at the end.
func (s *Server) resumeBody(ctx context.Context, f *fill) (fetchResult, error) {
	if f.size <= 0 || f.n <= 0 || f.n >= f.size || len(f.etag) < 2 || f.etag[0] != '"' {
		return fetchResult{}, errors.New("not resumable: no length or no strong ETag")
	}
	hdr := http.Header{"Range": {"bytes=" + strconv.FormatInt(f.n, 10) + "-"}, "If-Range": {string(f.etag)}}
	res, err := s.origins.fetch(ctx, f.key, nil, hdr)
	if err != nil {
		return res, err
	}
	resp := res.resp
	want := "bytes " + strconv.FormatInt(f.n, 10) + "-" + strconv.FormatInt(f.size-1, 10) + "/" + strconv.FormatInt(f.size, 10)
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != want ||
		resp.ContentLength != f.size-f.n || resp.Header.Get("ETag") != string(f.etag) {
		resp.Body.Close()
		return fetchResult{}, fmt.Errorf("range from %s: %s, Content-Range %q, ETag %q: not the rest of %s", res.source(), resp.Status, resp.Header.Get("Content-Range"), resp.Header.Get("ETag"), f.etag)
	}
	return res, nil
}

// storeFill makes the object of a checked body and stores it when the fill is to (the cache,
// and the disk tier), then hands it to the clients still streaming.
func (s *Server) storeFill(f *fill, sum [32]byte, k kind, pol cachePolicy, now time.Time) {
	etag := f.etag // read by the clients streaming the fill: not written once its head is out
	if len(etag) == 0 {
		// The origin sent no validator: make a strong one from the content.
		etag = httpx.StrongETag(sum)
	}
	o := &object{
		key: f.key, etag: etag, lastModified: f.lastMod, modTime: f.modTime,
		contentType: f.ctype, cacheControl: f.cctl, kind: k, stored: now, expires: now.Add(pol.ttl), sha256: sum,
	}
	o.setBody(f.buf) // a large body is copied to a memfd: f.buf goes once its streaming clients are done
	if f.stored {
		if !s.cacheUnlessPurged(f, o) {
			f.stored = false
		} else if s.disk != nil {
			s.disk.put(o)
		}
	}
	f.mu.Lock()
	f.obj = o
	f.final = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// countFetch counts a fill's fetch as an origin fetch or a peer fetch.
func (s *Server) countFetch(res fetchResult, k kind, bytes int) {
	if res.origin != nil {
		s.m.originFetches[k].Inc()
		s.m.originBytes.Add(bytes)
	} else {
		s.m.peerFetches[k].Inc()
		s.m.peerBytes.Add(bytes)
	}
}

// fetchPeer GETs key from another edge with the hop level that stops it from forwarding further
// than that level allows.
func (s *Server) fetchPeer(ctx context.Context, base, key string, etag []byte, hop int) (fetchResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+key, nil)
	if err != nil {
		return fetchResult{}, err
	}
	req.Header.Set(hopHeader, strconv.Itoa(hop))
	req.Header.Set("Via", s.origins.via)
	if len(etag) > 0 {
		req.Header.Set("If-None-Match", string(etag))
	}
	resp, err := s.peers.Do(req)
	if err != nil {
		return fetchResult{}, err
	}
	if resp.StatusCode >= 500 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return fetchResult{}, fmt.Errorf("peer %s: %s", base, resp.Status)
	}
	return fetchResult{resp: resp, peer: base}, nil
}

// etagMatchesHash reports whether an ETag that names a SHA-256 (httpx.StrongETag, as edgecdn
// origins send) names this one. Other ETags cannot be checked and pass.
func etagMatchesHash(etag []byte, sum [32]byte) bool {
	want, ok := httpx.ETagSum(etag)
	return !ok || want == sum
}

// fillReader streams part of a fill's body to one client as it arrives. The last byte is held
// back until the whole body has been checked, so a body that turns out short or corrupt
// reaches the client as an aborted response, never as a complete one.
type fillReader struct {
	f        *fill
	off, end int64
}

func (r *fillReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	f := r.f
	f.mu.Lock()
	var avail int64
	for {
		if f.final && f.bodyErr != nil {
			err := f.bodyErr
			f.mu.Unlock()
			return 0, err
		}
		avail = f.n
		if !f.final {
			avail = min(avail, f.size-1)
		}
		if avail > r.off {
			break
		}
		if f.final {
			f.mu.Unlock()
			return 0, io.ErrUnexpectedEOF
		}
		f.cond.Wait()
	}
	buf := f.buf
	f.mu.Unlock()
	n := copy(p, buf[r.off:min(avail, r.end)])
	r.off += int64(n)
	return n, nil
}

// failedBody returns why the fill's body failed, or nil while it is arriving or once it is good.
func (f *fill) failedBody() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.final {
		return f.bodyErr
	}
	return nil
}

// waitBody waits for a fill's body to finish and returns the stored object, or the error.
func (f *fill) waitBody() (*object, error) {
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bodyErr != nil {
		return nil, f.bodyErr
	}
	if f.obj == nil {
		return nil, errors.New("fill produced no object")
	}
	return f.obj, nil
}

var _ io.Reader = (*fillReader)(nil)

// statusForFillError maps a failed fill to the answer a client gets: 504 when the origins
// timed out, 502 otherwise.
func statusForFillError(err error) int {
	if errors.Is(err, context.DeadlineExceeded) {
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadGateway
}
