package edge

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// disk is the optional second cache tier: one file per object (a JSON header line, then the
// body), written in the background after a fill, read back when memory misses. Every read
// checks the body's SHA-256 against the header; a file that fails is deleted and counted, and
// the object is fetched again. The tier survives restarts: its index is rebuilt from the files.
type disk struct {
	dir   string
	max   int64
	log   *slog.Logger
	queue chan *object

	mu      sync.Mutex
	index   map[string]*list.Element // key -> *diskEntry, oldest first in order
	order   list.List
	bytes   int64
	corrupt atomic.Int64
}

type diskEntry struct {
	key  string
	file string
	size int64 // file size
}

type diskHeader struct {
	Key          string `json:"key"`
	ETag         string `json:"etag"`
	LastModified string `json:"last_modified,omitempty"`
	ModTime      int64  `json:"mod_time,omitempty"`
	ContentType  string `json:"content_type"`
	CacheControl string `json:"cache_control,omitempty"`
	Stored       int64  `json:"stored"`  // unix nanoseconds
	Expires      int64  `json:"expires"` // unix nanoseconds
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
}

const diskExt = ".obj"

func openDisk(dir string, max int64, log *slog.Logger) (*disk, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	d := &disk{dir: dir, max: max, log: log, queue: make(chan *object, 256), index: map[string]*list.Element{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	type found struct {
		e   *diskEntry
		mod time.Time
	}
	var files []found
	for _, de := range entries {
		name := de.Name()
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(path) // a write cut short by a crash
			continue
		}
		if !strings.HasSuffix(name, diskExt) || !de.Type().IsRegular() {
			continue
		}
		hdr, hlen, err := readDiskHeader(path)
		info, serr := de.Info()
		if err != nil || serr != nil || info.Size() != hlen+hdr.Size || diskFileName(hdr.Key) != name {
			d.corrupt.Add(1)
			os.Remove(path)
			continue
		}
		files = append(files, found{&diskEntry{key: hdr.Key, file: path, size: info.Size()}, info.ModTime()})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, f := range files {
		d.index[f.e.key] = d.order.PushBack(f.e)
		d.bytes += f.e.size
	}
	d.evictLocked()
	log.Info("disk cache opened", "dir", dir, "objects", len(d.index), "bytes", d.bytes, "dropped", d.corrupt.Load())
	return d, nil
}

func diskFileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16]) + diskExt
}

func readDiskHeader(path string) (diskHeader, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return diskHeader{}, 0, err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(io.LimitReader(f, 64<<10), 4096).ReadSlice('\n')
	if err != nil {
		return diskHeader{}, 0, fmt.Errorf("disk cache %s: no header: %w", path, err)
	}
	var h diskHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Key == "" || h.Size < 0 {
		return diskHeader{}, 0, fmt.Errorf("disk cache %s: bad header", path)
	}
	return h, int64(len(line)), nil
}

// get reads and checks an object; nil when absent or damaged (a damaged file is removed).
func (d *disk) get(key string) *object {
	d.mu.Lock()
	el, ok := d.index[key]
	d.mu.Unlock()
	if !ok {
		return nil
	}
	e := el.Value.(*diskEntry)
	b, err := os.ReadFile(e.file)
	if err != nil {
		d.drop(key, e, "unreadable")
		return nil
	}
	i := bytes.IndexByte(b, '\n')
	var h diskHeader
	if i < 0 || json.Unmarshal(b[:i], &h) != nil || h.Key != key {
		d.drop(key, e, "bad header")
		return nil
	}
	body := b[i+1:]
	sum := sha256.Sum256(body)
	if int64(len(body)) != h.Size || hex.EncodeToString(sum[:]) != h.SHA256 || !etagMatchesHash([]byte(h.ETag), sum) {
		d.drop(key, e, "hash mismatch")
		return nil
	}
	o := &object{
		key: key, etag: []byte(h.ETag), lastModified: []byte(h.LastModified),
		contentType: []byte(h.ContentType), cacheControl: []byte(h.CacheControl), kind: kindOf([]byte(key)),
		stored: time.Unix(0, h.Stored), expires: time.Unix(0, h.Expires), sha256: sum,
	}
	if h.ModTime != 0 {
		o.modTime = time.Unix(h.ModTime, 0).UTC()
	}
	o.setBody(body)
	return o
}

func (d *disk) drop(key string, e *diskEntry, why string) {
	d.corrupt.Add(1)
	d.log.Warn("disk cache: dropping damaged object", "key", key, "file", e.file, "why", why)
	d.mu.Lock()
	if el, ok := d.index[key]; ok && el.Value.(*diskEntry) == e {
		d.removeLocked(el)
	}
	d.mu.Unlock()
}

// put queues o for writing; when the writer is behind, the object is simply not written.
func (d *disk) put(o *object) {
	select {
	case d.queue <- o:
	default:
	}
}

// writer writes queued objects until ctx ends.
func (d *disk) writer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			// Finish what was queued, so a clean shutdown keeps every filled object.
			for {
				select {
				case o := <-d.queue:
					d.write(o)
				default:
					return
				}
			}
		case o := <-d.queue:
			if err := d.write(o); err != nil {
				d.log.Warn("disk cache: write failed", "key", o.key, "err", err)
			}
		}
	}
}

func (d *disk) write(o *object) error {
	h := diskHeader{
		Key: o.key, ETag: string(o.etag), LastModified: string(o.lastModified), ContentType: string(o.contentType),
		CacheControl: string(o.cacheControl), Stored: o.stored.UnixNano(), Expires: o.expires.UnixNano(),
		Size: o.size(), SHA256: hex.EncodeToString(o.sha256[:]),
	}
	if !o.modTime.IsZero() {
		h.ModTime = o.modTime.Unix()
	}
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	final := filepath.Join(d.dir, diskFileName(o.key))
	tmp, err := os.CreateTemp(d.dir, "w-*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(line)
	if err == nil {
		_, err = io.Copy(tmp, o.reader(0, o.size()))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.index[o.key]; ok {
		d.bytes -= el.Value.(*diskEntry).size
		d.order.Remove(el)
	}
	e := &diskEntry{key: o.key, file: final, size: int64(len(line)) + o.size()}
	d.index[o.key] = d.order.PushBack(e)
	d.bytes += e.size
	d.evictLocked()
	return nil
}

func (d *disk) evictLocked() {
	for d.bytes > d.max && d.order.Len() > 0 {
		d.removeLocked(d.order.Front())
	}
}

func (d *disk) removeLocked(el *list.Element) {
	e := el.Value.(*diskEntry)
	d.order.Remove(el)
	delete(d.index, e.key)
	d.bytes -= e.size
	os.Remove(e.file)
}

func (d *disk) deletePrefix(prefix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for k, el := range d.index {
		if strings.HasPrefix(k, prefix) {
			d.removeLocked(el)
			n++
		}
	}
	return n
}

func (d *disk) stats() (bytes int64, objects int, corrupt int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bytes, len(d.index), d.corrupt.Load()
}

func (d *disk) close() {}
