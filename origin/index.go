package origin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"edgecdn/internal/catalog"
	"edgecdn/internal/httpx"
)

// file is one servable file: everything a response needs, computed once at load.
type file struct {
	path         string // on disk, inside the content root
	size         int64
	kind         kind
	etag         []byte // strong: httpx.StrongETag of its SHA-256
	lastModified []byte // HTTP date
	modTime      time.Time
	contentType  []byte
	cacheControl []byte
	data         []byte // the bytes, when preloaded; nil means read from disk per request
}

type kind int

const (
	kindSegment kind = iota
	kindPlaylist
	kindCatalog
	kindOther
	numKinds
)

var kindNames = [numKinds]string{"segment", "playlist", "catalog", "other"}

// index maps clean URL paths to files.
type index struct {
	files      map[string]*file
	titles     int
	bytes      int64 // total size of all files
	preloaded  int64 // bytes held in memory
	hashed     int   // files hashed at load (not listed in catalog.json, or --verify)
	rejected   int   // files that failed --verify
	skipped    int   // symlinks out of the tree, special files
	catalogErr error
}

// contentTypes by extension. Unknown extensions are served as application/octet-stream.
var contentTypes = map[string]string{
	".m3u8": "application/vnd.apple.mpegurl",
	".mpd":  "application/dash+xml",
	".ts":   "video/mp2t",
	".mp4":  "video/mp4",
	".m4s":  "video/mp4",
	".m4a":  "audio/mp4",
	".m4v":  "video/mp4",
	".aac":  "audio/aac",
	".vtt":  "text/vtt; charset=utf-8",
	".json": "application/json",
}

func kindOf(rel string) kind {
	switch {
	case rel == catalog.FileName:
		return kindCatalog
	case strings.HasSuffix(rel, ".m3u8"), strings.HasSuffix(rel, ".mpd"):
		return kindPlaylist
	case strings.HasSuffix(rel, ".ts"), strings.HasSuffix(rel, ".m4s"), strings.HasSuffix(rel, ".mp4"),
		strings.HasSuffix(rel, ".aac"), strings.HasSuffix(rel, ".m4a"), strings.HasSuffix(rel, ".m4v"):
		return kindSegment
	}
	return kindOther
}

// load indexes the content folder. Every file below root is served at /vod/<relative path>,
// except catalog.json at the root, served at /catalog.json. Names starting with '.' (the
// packager's temporary folders) are skipped, and so are symlinks that lead outside root.
// Segments listed in catalog.json take their ETag from its SHA-256 (the edge checks bodies
// against it, so a file damaged on disk is caught); every other file is hashed here, and with
// verify every segment too, dropping those whose bytes do not match.
func load(cfg *Config, log *slog.Logger) (*index, error) {
	root, err := filepath.EvalSymlinks(cfg.Content)
	if err != nil {
		return nil, fmt.Errorf("content %s: %w", cfg.Content, err)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("content %s: %w", cfg.Content, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("content %s: not a folder", cfg.Content)
	}
	idx := &index{files: map[string]*file{}}
	hashes := map[string]catalog.Segment{}
	if cat, err := catalog.Load(root); err == nil {
		idx.titles = len(cat.Titles)
		hashes = cat.SegmentPaths()
	} else if !os.IsNotExist(err) {
		// A damaged catalog.json does not stop the origin: every file is hashed instead.
		idx.catalogErr = err
		log.Warn("catalog.json unreadable; hashing every file", "err", err)
	}
	budget := cfg.PreloadBytes
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		target := p
		if d.Type()&fs.ModeSymlink != 0 {
			t, err := filepath.EvalSymlinks(p)
			if err != nil || !within(root, t) {
				log.Warn("skipping symlink that leads outside the content folder", "path", rel)
				idx.skipped++
				return nil
			}
			target = t
		}
		fi, err := os.Stat(target)
		if err != nil || !fi.Mode().IsRegular() {
			idx.skipped++
			return nil
		}
		rel = filepath.ToSlash(rel)
		if !strings.Contains(rel, "/") && rel != catalog.FileName {
			return nil // loose files at the root are not content
		}
		f := &file{path: target, size: fi.Size(), kind: kindOf(rel), modTime: fi.ModTime().UTC().Truncate(time.Second)}
		f.lastModified = fasthttp.AppendHTTPDate(nil, f.modTime)
		ct, ok := contentTypes[filepath.Ext(rel)]
		if !ok {
			ct = "application/octet-stream"
		}
		f.contentType = []byte(ct)
		switch f.kind {
		case kindSegment:
			f.cacheControl = []byte(fmt.Sprintf("public, max-age=%d, immutable", int(cfg.SegmentMaxAge.Seconds())))
		default: // playlists, catalog.json and the rest
			f.cacheControl = []byte(fmt.Sprintf("public, max-age=%d", int(max(cfg.PlaylistMaxAge, 0).Seconds())))
		}
		want, listed := hashes[rel]
		// Small files are always held in memory; segments while the budget lasts.
		preload := f.size <= 64<<10 || f.size <= budget
		var raw [32]byte
		if _, err := hex.Decode(raw[:], []byte(want.SHA256)); !listed || err != nil || want.Size != f.size || cfg.Verify || preload {
			data, got, err := readHash(target, preload)
			if err != nil {
				return fmt.Errorf("content %s: %w", rel, err)
			}
			idx.hashed++
			if listed && got != want.SHA256 {
				log.Error("file does not match catalog.json; not serving it", "path", rel, "sha256", got, "want", want.SHA256)
				idx.rejected++
				return nil
			}
			hex.Decode(raw[:], []byte(got))
			if preload {
				f.data = data
				if f.size > 64<<10 {
					budget -= f.size
				}
				idx.preloaded += f.size
			}
		}
		f.etag = httpx.StrongETag(raw)
		key := "/vod/" + rel
		if rel == catalog.FileName {
			key = "/" + catalog.FileName
		}
		idx.files[key] = f
		idx.bytes += f.size
		return nil
	})
	if err != nil {
		return nil, err
	}
	return idx, nil
}

// readHash hashes a file and returns its bytes too when keep is set.
func readHash(path string, keep bool) ([]byte, string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer fh.Close()
	h := sha256.New()
	if !keep {
		if _, err := io.Copy(h, fh); err != nil {
			return nil, "", err
		}
		return nil, hex.EncodeToString(h.Sum(nil)), nil
	}
	data, err := io.ReadAll(fh)
	if err != nil {
		return nil, "", err
	}
	h.Write(data)
	return data, hex.EncodeToString(h.Sum(nil)), nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
