// Package index is the personal cloud's file index in the box's KV:
// paths, folders, entries, manifests, and the records that make its
// multi-transaction operations (move, remove, recover) crash-safe.
//
// It knows nothing of shards' holders, keys or the network: an operation
// that drops files (Remove, a Commit over a file) returns their manifests,
// and the caller deletes their shards.
//
// # Locking
//
// An Index holds the lock that serializes index writes. Every exported
// write (Mkdir, Move, FinishMove, Remove, Commit, UpdateManifest,
// Restore) and FreeName take it themselves; the caller must hold no index
// lock (an Index is not reentrant). Reads (Stat, IsDir, List, Files,
// FilesIn, Manifest, HasManifest, Manifests, Recovering) take no lock: each
// sees what the KV holds, which for a folder move or a large remove under
// way may be a part of it. Snapshot takes the lock, so that a backup sees
// no write half done. A caller with a lock of its own that it holds across
// an index call (the cloud's, around Recover) takes its lock first and
// this one second, never the other way round.
package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/store"
)

// Errors. The cloud package's sentinels are these, so errors.Is matches
// either name.
var (
	ErrNotFound = errors.New("cloud: no such file or folder")
	ErrExists   = errors.New("cloud: already exists")
	ErrNotEmpty = errors.New("cloud: folder is not empty")
	ErrBadPath  = errors.New("cloud: bad path")
)

// KV keys of the index. The layout is the one the cloud has always used:
// it is on every box's disk.
var (
	prefixMeta    = "cloud/meta"               // + path → Entry
	prefixDir     = "cloud/dir"                // + path → {} (explicit folders)
	prefixMan     = "cloud/man/"               // + file ID → Manifest
	keyMoving     = []byte("cloud/moving")     // a move under way (moveRec)
	keyRecovering = []byte("cloud/recovering") // a recovery under way
)

// Entry is a file in the index.
type Entry struct {
	Path    string       `json:"path"`
	File    codec.FileID `json:"id"`
	Size    int64        `json:"size"`
	K       int          `json:"k"`
	M       int          `json:"m"`
	Created time.Time    `json:"created"`
}

// Item is one line of a folder listing.
type Item struct {
	Name    string       `json:"name"`
	Path    string       `json:"path"`
	Dir     bool         `json:"dir"`
	Size    int64        `json:"size,omitempty"`
	File    codec.FileID `json:"id,omitzero"`
	Created time.Time    `json:"created,omitzero"`
}

// Config wires an Index.
type Config struct {
	KV store.KV
	// Changed is called after every write that changes what the index
	// holds (optional): the cloud's backup loop waits on it.
	Changed func()
	Logger  *slog.Logger // optional
}

// Index is the file index over a KV.
type Index struct {
	kv      store.KV
	changed func()
	log     *slog.Logger

	mu sync.Mutex // serializes index writes (see the package comment)
}

// New returns the index kept in cfg.KV. It does not finish an interrupted
// move: the owner calls FinishMove once, before anything reads the index.
func New(cfg Config) *Index {
	ix := &Index{kv: cfg.KV, changed: cfg.Changed, log: cfg.Logger}
	if ix.changed == nil {
		ix.changed = func() {}
	}
	if ix.log == nil {
		ix.log = slog.New(slog.DiscardHandler)
	}
	return ix
}

// CleanPath normalizes a cloud path: absolute, slash-separated, no "..",
// no empty or control-character names.
func CleanPath(p string) (string, error) {
	if p == "" || len(p) > 1024 {
		return "", fmt.Errorf("%w %q", ErrBadPath, p)
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w %q: no .. allowed", ErrBadPath, p)
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w %q: control character", ErrBadPath, p)
		}
	}
	return path.Clean(p), nil
}

func metaKey(p string) []byte      { return []byte(prefixMeta + p) }
func dirKey(p string) []byte       { return []byte(prefixDir + p) }
func manKey(f codec.FileID) []byte { return []byte(prefixMan + f.String()) }

// under is the key prefix of everything below folder p.
func under(prefix, p string) []byte {
	if p == "/" {
		return []byte(prefix + "/")
	}
	return []byte(prefix + p + "/")
}

// Stat returns the entry of a file.
func (ix *Index) Stat(p string) (*Entry, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	var e Entry
	if err := store.GetJSON(ix.kv, metaKey(p), &e); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
		}
		return nil, err
	}
	return &e, nil
}

// IsDir reports whether p (a clean path) is a folder: the root, an
// explicit folder or a prefix of some file's path.
func (ix *Index) IsDir(p string) bool {
	if p == "/" {
		return true
	}
	if _, err := ix.kv.Get(dirKey(p)); err == nil {
		return true
	}
	found := false
	for _, pre := range []string{prefixMeta, prefixDir} {
		ix.kv.Scan(under(pre, p), func(k, v []byte) error {
			found = true
			return errStop
		})
	}
	return found
}

var errStop = errors.New("stop")

// Manifest returns the manifest of file f.
func (ix *Index) Manifest(f codec.FileID) (*Manifest, error) {
	b, err := ix.kv.Get(manKey(f))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: file %s", ErrNotFound, f)
	}
	if err != nil {
		return nil, err
	}
	return UnmarshalManifest(b)
}

// HasManifest reports whether file f has a manifest, that is whether it
// is committed.
func (ix *Index) HasManifest(f codec.FileID) bool {
	_, err := ix.kv.Get(manKey(f))
	return err == nil
}

// Manifests calls fn with every manifest, or with the error of one that
// does not decode; an error fn returns ends the walk and is returned.
func (ix *Index) Manifests(fn func(*Manifest, error) error) error {
	return ix.kv.Scan([]byte(prefixMan), func(_, v []byte) error {
		return fn(UnmarshalManifest(v))
	})
}

// List returns the files and folders directly in folder dir.
func (ix *Index) List(dir string) ([]Item, error) {
	dir, err := CleanPath(dir)
	if err != nil {
		return nil, err
	}
	if !ix.IsDir(dir) {
		if e, err := ix.Stat(dir); err == nil {
			return []Item{{Name: path.Base(e.Path), Path: e.Path, Size: e.Size, File: e.File, Created: e.Created}}, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, dir)
	}
	items := map[string]Item{}
	base := strings.TrimSuffix(dir, "/")
	for _, pre := range []string{prefixMeta, prefixDir} {
		prefix := under(pre, dir)
		err := ix.kv.Scan(prefix, func(k, v []byte) error {
			rest := string(k[len(prefix):])
			name, deeper, _ := strings.Cut(rest, "/")
			full := base + "/" + name
			if deeper != "" || pre == prefixDir {
				items[name] = Item{Name: name, Path: full, Dir: true}
				return nil
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			items[name] = Item{Name: name, Path: full, Size: e.Size, File: e.File, Created: e.Created}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]Item, 0, len(items))
	for _, it := range items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Files returns every file entry (for repair and backup).
func (ix *Index) Files() ([]Entry, error) {
	var out []Entry
	err := ix.kv.Scan([]byte(prefixMeta+"/"), func(k, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// FilesIn returns the entries of the files anywhere below folder dir (a
// clean path), skipping any that do not decode.
func (ix *Index) FilesIn(dir string) ([]Entry, error) {
	var out []Entry
	err := ix.kv.Scan(under(prefixMeta, dir), func(k, v []byte) error {
		var e Entry
		if json.Unmarshal(v, &e) == nil {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Mkdir creates a folder (and its parents, implicitly).
func (ix *Index) Mkdir(p string) error {
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	if p == "/" {
		return nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, err := ix.Stat(p); err == nil {
		return fmt.Errorf("cloud: %s is a file: %w", p, ErrExists)
	}
	if err := ix.kv.Put(dirKey(p), []byte("{}")); err != nil {
		return err
	}
	ix.changed()
	return nil
}

// Commit makes the file man describes part of the index at p, in one
// transaction with its manifest, replacing the file there; it returns the
// new entry and the replaced file's manifest (nil for none), whose shards
// the caller deletes. With freeName (a delivery), p is only the wished-for
// name: the free one is chosen under the index lock. On an error nothing
// is committed.
func (ix *Index) Commit(p string, man *Manifest, freeName bool) (*Entry, *Manifest, error) {
	file := man.File
	e := &Entry{Path: p, File: file, Size: man.Size, K: man.K, M: man.M, Created: man.Created}
	mb, err := MarshalManifest(man)
	if err != nil {
		return nil, nil, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if freeName {
		if e.Path, err = ix.freeName(p); err != nil {
			return nil, nil, err
		}
		p = e.Path
	}
	eb, _ := json.Marshal(e)
	var old *Entry
	var oldMan *Manifest
	if oe, err := ix.Stat(p); err == nil {
		old = oe
		oldMan, _ = ix.Manifest(oe.File)
	}
	err = ix.kv.Batch(func(b *store.Batch) error {
		b.Put(manKey(file), mb)
		b.Put(metaKey(p), eb)
		if old != nil {
			b.Delete(manKey(old.File))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cloud: commit: %w", err)
	}
	ix.changed()
	return e, oldMan, nil
}

// UpdateManifest rewrites the manifest of file f as edit changes a copy
// of it, under the index lock: edit sees the current manifest, whatever
// happened to the file since the caller last read it. It returns
// ErrNotFound if the file is gone.
func (ix *Index) UpdateManifest(f codec.FileID, edit func(*Manifest)) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	cur, err := ix.Manifest(f)
	if err != nil {
		return err
	}
	cur = cur.Clone()
	edit(cur)
	b, err := MarshalManifest(cur)
	if err != nil {
		return err
	}
	return ix.kv.Put(manKey(f), b)
}

// FreeName returns p, or "stem (N).ext" for the first N at which there is
// neither a file nor a folder.
func (ix *Index) FreeName(p string) (string, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.freeName(p)
}

// freeName is FreeName; the caller holds ix.mu.
func (ix *Index) freeName(p string) (string, error) {
	dir, name := path.Split(p)
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 2; ; i++ {
		_, err := ix.Stat(p)
		if errors.Is(err, ErrNotFound) && !ix.IsDir(p) {
			return p, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return "", err
		}
		if i > 10000 {
			return "", fmt.Errorf("cloud: no free name for %s in %s", name, dir)
		}
		p = path.Join(dir, fmt.Sprintf("%s (%d)%s", stem, i, ext))
	}
}
