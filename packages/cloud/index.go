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
	e := &Entry{Path: p, File: file, Size: man.Size, K: man.K, M: man.M, Created: man.Created}
	mb, err := MarshalManifest(man)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if o.freeName {
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
		for i := range man.Segments {
			b.Delete(pendingKey(file, i))
		}
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
	type kv struct{ k, v []byte }
	var moves []kv
	var dels [][]byte
	if e, err := s.Stat(src); err == nil {
		e.Path = dst
		b, _ := json.Marshal(e)
		moves = append(moves, kv{metaKey(dst), b})
		dels = append(dels, metaKey(src))
	} else if s.isDir(src) {
		for _, pre := range []string{prefixMeta, prefixDir} {
			if pre == prefixDir {
				if _, err := s.cfg.KV.Get(dirKey(src)); err == nil {
					moves = append(moves, kv{dirKey(dst), []byte("{}")})
					dels = append(dels, dirKey(src))
				}
			}
			prefix := under(pre, src)
			err := s.cfg.KV.Scan(prefix, func(k, v []byte) error {
				np := dst + "/" + string(k[len(prefix):])
				nv := slices.Clone(v)
				if pre == prefixMeta {
					var e Entry
					if err := json.Unmarshal(v, &e); err != nil {
						return err
					}
					e.Path = np
					nv, _ = json.Marshal(e)
				}
				moves = append(moves, kv{[]byte(pre + np), nv})
				dels = append(dels, slices.Clone(k))
				return nil
			})
			if err != nil {
				return "", err
			}
		}
	} else {
		return "", fmt.Errorf("%w: %s", ErrNotFound, src)
	}
	err = s.cfg.KV.Batch(func(b *store.Batch) error {
		for _, k := range dels {
			b.Delete(k)
		}
		for _, m := range moves {
			b.Put(m.k, m.v)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.dirty()
	return dst, nil
}

// Remove deletes a file (and its shards from their holders), or a folder;
// a folder that is not empty needs recursive.
func (s *Service) Remove(ctx context.Context, p string, recursive bool) (int, error) {
	p, err := CleanPath(p)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	var mans []*Manifest
	var dels [][]byte
	if e, err := s.Stat(p); err == nil {
		if m, err := s.loadManifest(e.File); err == nil {
			mans = append(mans, m)
		}
		dels = append(dels, metaKey(p), manKey(e.File))
	} else if s.isDir(p) {
		var entries []Entry
		s.cfg.KV.Scan(under(prefixMeta, p), func(k, v []byte) error {
			var e Entry
			if json.Unmarshal(v, &e) == nil {
				entries = append(entries, e)
			}
			dels = append(dels, slices.Clone(k))
			return nil
		})
		s.cfg.KV.Scan(under(prefixDir, p), func(k, v []byte) error {
			dels = append(dels, slices.Clone(k))
			return nil
		})
		if len(dels) > 0 && !recursive {
			s.mu.Unlock()
			return 0, fmt.Errorf("%w: %s (remove it recursively)", ErrNotEmpty, p)
		}
		if p != "/" {
			dels = append(dels, dirKey(p))
		}
		for _, e := range entries {
			if m, err := s.loadManifest(e.File); err == nil {
				mans = append(mans, m)
			}
			dels = append(dels, manKey(e.File))
		}
	} else {
		s.mu.Unlock()
		return 0, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	err = s.cfg.KV.Batch(func(b *store.Batch) error {
		for _, k := range dels {
			b.Delete(k)
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for _, m := range mans {
		s.deleteShards(ctx, allRefs(m))
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
