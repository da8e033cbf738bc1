package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/store"
)

// The index's operations that may take more than one transaction.

// Move renames or moves a file or folder. If dst is an existing folder,
// src moves into it. It returns where src went.
func (ix *Index) Move(src, dst string) (string, error) {
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
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.IsDir(dst) {
		dst = path.Join(dst, path.Base(src))
	}
	if dst == src {
		return dst, nil
	}
	if strings.HasPrefix(dst+"/", src+"/") {
		return "", fmt.Errorf("%w: cannot move a folder into itself", ErrBadPath)
	}
	if _, err := ix.Stat(dst); err == nil || ix.IsDir(dst) {
		return "", fmt.Errorf("cloud: %s: %w", dst, ErrExists)
	}
	if _, err := ix.Stat(src); err != nil && !ix.IsDir(src) {
		return "", fmt.Errorf("%w: %s", ErrNotFound, src)
	}
	if err := ix.moveTree(src, dst); err != nil {
		return "", err
	}
	ix.changed()
	return dst, nil
}

// moveRec journals a move under way (keyMoving).
type moveRec struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// moveTree moves the file or folder src, with everything below it, to
// dst; the caller holds ix.mu. A folder too large for one transaction
// moves in several: the first also records the move, each moves whole
// entries (the new key and the old key's deletion in one unit), the last
// ends the record. So a crash leaves every entry at exactly one of its two
// paths, and FinishMove completes the move at the next start.
func (ix *Index) moveTree(src, dst string) error {
	rec, _ := json.Marshal(moveRec{Src: src, Dst: dst})
	return store.Chunked(ix.kv, func(b *store.Batch) error {
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
			if v, err := ix.kv.Get([]byte(pre + src)); err == nil {
				if err := move(pre, src, dst, v); err != nil {
					return err
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			prefix := under(pre, src)
			err := ix.kv.Scan(prefix, func(k, v []byte) error {
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

// FinishMove completes a move a crash interrupted (see moveTree), if
// there is one. Its owner calls it once, before anything reads the index.
func (ix *Index) FinishMove() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var rec moveRec
	if err := store.GetJSON(ix.kv, keyMoving, &rec); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	ix.log.Info("finishing an interrupted move", "from", rec.Src, "to", rec.Dst)
	if err := ix.moveTree(rec.Src, rec.Dst); err != nil {
		return err
	}
	ix.changed()
	return nil
}

// Remove deletes a file, or a folder; a folder that is not empty needs
// recursive. It returns the manifests of the files it removed: the caller
// deletes their shards.
func (ix *Index) Remove(p string, recursive bool) ([]*Manifest, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	type file struct {
		key []byte
		id  codec.FileID
	}
	var files []file
	var others [][]byte // folders, and entries that do not decode
	if e, err := ix.Stat(p); err == nil {
		files = append(files, file{metaKey(p), e.File})
	} else if ix.IsDir(p) {
		ix.kv.Scan(under(prefixMeta, p), func(k, v []byte) error {
			var e Entry
			if json.Unmarshal(v, &e) == nil {
				files = append(files, file{slices.Clone(k), e.File})
			} else {
				others = append(others, slices.Clone(k))
			}
			return nil
		})
		ix.kv.Scan(under(prefixDir, p), func(k, v []byte) error {
			others = append(others, slices.Clone(k))
			return nil
		})
		if len(files)+len(others) > 0 && !recursive {
			return nil, fmt.Errorf("%w: %s (remove it recursively)", ErrNotEmpty, p)
		}
		if p != "/" {
			others = append(others, dirKey(p))
		}
	} else {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	var mans []*Manifest
	for _, f := range files {
		if m, err := ix.Manifest(f.id); err == nil {
			mans = append(mans, m)
		}
	}
	// A large folder goes in several transactions. Each drops whole
	// files, an entry with its manifest, and the folders go last: a crash
	// leaves whole files under a folder that still shows, and rm -r again
	// finishes.
	err = store.Chunked(ix.kv, func(b *store.Batch) error {
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
	if err != nil {
		return nil, err
	}
	ix.changed()
	return mans, nil
}
