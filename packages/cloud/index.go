package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/store"
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

func metaKey(p string) []byte { return []byte(prefixMeta + p) }
func dirKey(p string) []byte  { return []byte(prefixDir + p) }

// under is the key prefix of everything below folder p.
func under(prefix, p string) []byte {
	if p == "/" {
		return []byte(prefix + "/")
	}
	return []byte(prefix + p + "/")
}

// Stat returns the entry of a file.
func (s *Service) Stat(p string) (*Entry, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	var e Entry
	if err := store.GetJSON(s.cfg.KV, metaKey(p), &e); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
		}
		return nil, err
	}
	return &e, nil
}

// isDir reports whether p is a folder: the root, an explicit folder or a
// prefix of some file's path.
func (s *Service) isDir(p string) bool {
	if p == "/" {
		return true
	}
	if _, err := s.cfg.KV.Get(dirKey(p)); err == nil {
		return true
	}
	found := false
	for _, pre := range []string{prefixMeta, prefixDir} {
		s.cfg.KV.Scan(under(pre, p), func(k, v []byte) error {
			found = true
			return errStop
		})
	}
	return found
}

var errStop = errors.New("stop")

// Manifest returns a file's manifest by path or file ID.
func (s *Service) Manifest(ref string) (*Manifest, error) {
	var f codec.FileID
	if id, err := codec.ParseFileID(ref); err == nil && !strings.HasPrefix(ref, "/") {
		f = id
	} else {
		e, err := s.Stat(ref)
		if err != nil {
			return nil, err
		}
		f = e.File
	}
	return s.loadManifest(f)
}

func (s *Service) loadManifest(f codec.FileID) (*Manifest, error) {
	b, err := s.cfg.KV.Get(manKey(f))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: file %s", ErrNotFound, f)
	}
	if err != nil {
		return nil, err
	}
	return UnmarshalManifest(b)
}

// Put stores the file read from r at path p, replacing any file there.
func (s *Service) Put(ctx context.Context, p string, r io.Reader, o PutOptions) (*Entry, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	if p == "/" || s.isDir(p) {
		return nil, fmt.Errorf("cloud: %s is a folder: %w", p, ErrExists)
	}
	owner, err := s.Owner()
	if err != nil {
		return nil, err
	}
	file := codec.NewFileID()
	key := codec.NewFileKey()
	man, err := s.putBlob(ctx, r, file, key, o)
	if err != nil {
		return nil, err
	}
	man.WrappedKey = owner.Wrap(key, file[:])
	return s.commit(ctx, p, man, o.freeName)
}

// commit makes a file whose shards are placed part of the index at p,
// replacing the file there. The manifest and entry go in one transaction,
// the put's journal records after it in as many as they need (a file of
// 51 GiB has more than one transaction holds): a crash in between leaves
// records of a committed file, which cleanupPending drops without
// touching its shards. With freeName (a delivery), p is only the wished-for
// name: the free one is chosen under the index lock.
func (s *Service) commit(ctx context.Context, p string, man *Manifest, freeName bool) (*Entry, error) {
	file := man.File
	e := &Entry{Path: p, File: file, Size: man.Size, K: man.K, M: man.M, Created: man.Created}
	mb, err := MarshalManifest(man)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if freeName {
		if e.Path, err = s.freeName(p); err != nil {
			s.mu.Unlock()
			s.deleteShards(context.WithoutCancel(ctx), allRefs(man))
			s.dropPending(file)
			return nil, err
		}
		p = e.Path
	}
	eb, _ := json.Marshal(e)
	var old *Entry
	var oldMan *Manifest
	if oe, err := s.Stat(p); err == nil {
		old = oe
		oldMan, _ = s.loadManifest(oe.File)
	}
	err = s.cfg.KV.Batch(func(b *store.Batch) error {
		b.Put(manKey(file), mb)
		b.Put(metaKey(p), eb)
		if old != nil {
			b.Delete(manKey(old.File))
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		s.deleteShards(context.WithoutCancel(ctx), allRefs(man))
		s.dropPending(file)
		return nil, fmt.Errorf("cloud: commit: %w", err)
	}
	s.dropPending(file)
	if oldMan != nil {
		s.deleteShards(context.WithoutCancel(ctx), allRefs(oldMan))
	}
	s.log.Info("put", "path", p, "file", file, "size", man.Size, "segments", len(man.Segments))
	s.dirty()
	return e, nil
}

func allRefs(m *Manifest) []ShardRef {
	var out []ShardRef
	for _, sg := range m.Segments {
		out = append(out, sg.Shards...)
	}
	return out
}

// Get writes the file named by path, file ID or a friend's share address
// to w.
func (s *Service) Get(ctx context.Context, ref string, w io.Writer) (*Manifest, error) {
	if strings.HasPrefix(ref, sharePrefix) {
		return s.getShared(ctx, ref, w)
	}
	man, err := s.Manifest(ref)
	if err != nil {
		return nil, err
	}
	key, err := s.fileKey(man)
	if err != nil {
		return nil, err
	}
	return man, s.getBlob(ctx, man, key, w)
}

// List returns the files and folders directly in folder dir.
func (s *Service) List(dir string) ([]Item, error) {
	dir, err := CleanPath(dir)
	if err != nil {
		return nil, err
	}
	if !s.isDir(dir) {
		if e, err := s.Stat(dir); err == nil {
			return []Item{{Name: path.Base(e.Path), Path: e.Path, Size: e.Size, File: e.File, Created: e.Created}}, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, dir)
	}
	items := map[string]Item{}
	base := strings.TrimSuffix(dir, "/")
	for _, pre := range []string{prefixMeta, prefixDir} {
		prefix := under(pre, dir)
		err := s.cfg.KV.Scan(prefix, func(k, v []byte) error {
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

// Mkdir creates a folder (and its parents, implicitly).
func (s *Service) Mkdir(p string) error {
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	if p == "/" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Stat(p); err == nil {
		return fmt.Errorf("cloud: %s is a file: %w", p, ErrExists)
	}
	if err := s.cfg.KV.Put(dirKey(p), []byte("{}")); err != nil {
		return err
	}
	s.dirty()
	return nil
}

// Move renames or moves a file or folder. If dst is an existing folder,
// src moves into it.
func (s *Service) Move(src, dst string) (string, error) {
	src, err := CleanPath(src)
	if err != nil {
		return "", err
	}
	dst, err = CleanPath(dst)
	if err != nil {
		return "", err
	}
	if src == "/" {
		return "", fmt.Errorf("%w: cannot move the root folder", ErrBadPath)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isDir(dst) {
		dst = path.Join(dst, path.Base(src))
	}
	if dst == src {
		return dst, nil
	}
	if strings.HasPrefix(dst+"/", src+"/") {
		return "", fmt.Errorf("%w: cannot move a folder into itself", ErrBadPath)
	}
	if _, err := s.Stat(dst); err == nil || s.isDir(dst) {
		return "", fmt.Errorf("cloud: %s: %w", dst, ErrExists)
	}
	if _, err := s.Stat(src); err != nil && !s.isDir(src) {
		return "", fmt.Errorf("%w: %s", ErrNotFound, src)
	}
	if err := s.moveTree(src, dst); err != nil {
		return "", err
	}
	s.dirty()
	return dst, nil
}

// moveRec journals a move under way (keyMoving).
type moveRec struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// moveTree moves the file or folder src, with everything below it, to
// dst; the caller holds s.mu. A folder too large for one transaction
// moves in several: the first also records the move, each moves whole
// entries (the new key and the old key's deletion in one unit), the last
// ends the record. So a crash leaves every entry at exactly one of its two
// paths, and finishMove completes the move at the next start.
func (s *Service) moveTree(src, dst string) error {
	rec, _ := json.Marshal(moveRec{Src: src, Dst: dst})
	return store.Chunked(s.cfg.KV, func(b *store.Batch) error {
		b.Put(keyMoving, rec)
		b.Cut()
		move := func(pre, from, to string, v []byte) error {
			if pre == prefixMeta {
				var e Entry
				if err := json.Unmarshal(v, &e); err != nil {
					return err
				}
				e.Path = to
				v, _ = json.Marshal(e)
			}
			b.Put([]byte(pre+to), v)
			b.Delete([]byte(pre + from))
			b.Cut()
			return nil
		}
		for _, pre := range []string{prefixMeta, prefixDir} {
			if v, err := s.cfg.KV.Get([]byte(pre + src)); err == nil {
				if err := move(pre, src, dst, v); err != nil {
					return err
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			prefix := under(pre, src)
			err := s.cfg.KV.Scan(prefix, func(k, v []byte) error {
				rest := string(k[len(prefix):])
				return move(pre, src+"/"+rest, dst+"/"+rest, v)
			})
			if err != nil {
				return err
			}
		}
		b.Delete(keyMoving)
		return nil
	})
}

// finishMove completes a move a crash interrupted (see moveTree).
func (s *Service) finishMove() error {
	var rec moveRec
	if err := store.GetJSON(s.cfg.KV, keyMoving, &rec); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	s.log.Info("finishing an interrupted move", "from", rec.Src, "to", rec.Dst)
	if err := s.moveTree(rec.Src, rec.Dst); err != nil {
		return err
	}
	s.dirty()
	return nil
}

// Remove deletes a file (and its shards from their holders), or a folder;
// a folder that is not empty needs recursive.
func (s *Service) Remove(ctx context.Context, p string, recursive bool) (int, error) {
	p, err := CleanPath(p)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	type file struct {
		key []byte
		id  codec.FileID
	}
	var files []file
	var others [][]byte // folders, and entries that do not decode
	if e, err := s.Stat(p); err == nil {
		files = append(files, file{metaKey(p), e.File})
	} else if s.isDir(p) {
		s.cfg.KV.Scan(under(prefixMeta, p), func(k, v []byte) error {
			var e Entry
			if json.Unmarshal(v, &e) == nil {
				files = append(files, file{slices.Clone(k), e.File})
			} else {
				others = append(others, slices.Clone(k))
			}
			return nil
		})
		s.cfg.KV.Scan(under(prefixDir, p), func(k, v []byte) error {
			others = append(others, slices.Clone(k))
			return nil
		})
		if len(files)+len(others) > 0 && !recursive {
			s.mu.Unlock()
			return 0, fmt.Errorf("%w: %s (remove it recursively)", ErrNotEmpty, p)
		}
		if p != "/" {
			others = append(others, dirKey(p))
		}
	} else {
		s.mu.Unlock()
		return 0, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	var mans []*Manifest
	for _, f := range files {
		if m, err := s.loadManifest(f.id); err == nil {
			mans = append(mans, m)
		}
	}
	// A large folder goes in several transactions. Each drops whole
	// files, an entry with its manifest, and the folders go last: a crash
	// leaves whole files under a folder that still shows, and rm -r again
	// finishes.
	err = store.Chunked(s.cfg.KV, func(b *store.Batch) error {
		for _, f := range files {
			b.Delete(f.key)
			b.Delete(manKey(f.id))
			b.Cut()
		}
		for _, k := range others {
			b.Delete(k)
			b.Cut()
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	// A holder that does not confirm (offline) is retried later.
	for _, m := range mans {
		s.forget(ctx, allRefs(m))
	}
	s.dirty()
	return len(mans), nil
}

// Files returns every file entry (for repair and backup).
func (s *Service) Files() ([]Entry, error) {
	var out []Entry
	err := s.cfg.KV.Scan([]byte(prefixMeta+"/"), func(k, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
