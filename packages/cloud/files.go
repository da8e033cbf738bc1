package cloud

import (
	"context"
	"fmt"
	"io"
	"strings"

	"oepc.dev/oepcos/packages/cloud/codec"
	"oepc.dev/oepcos/packages/cloud/index"
)

// The file index lives in packages/cloud/index; these are the Service's
// doors to it, and the parts of put, get and remove that reach shards.

// Stat returns the entry of a file.
func (s *Service) Stat(p string) (*index.Entry, error) { return s.ix.Stat(p) }

// isDir reports whether p (a clean path) is a folder.
func (s *Service) isDir(p string) bool { return s.ix.IsDir(p) }

// Manifest returns a file's manifest by path or file ID.
func (s *Service) Manifest(ref string) (*index.Manifest, error) {
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
	return s.ix.Manifest(f)
}

// Put stores the file read from r at path p, replacing any file there.
func (s *Service) Put(ctx context.Context, p string, r io.Reader, o PutOptions) (*index.Entry, error) {
	p, err := index.CleanPath(p)
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
// replacing the file there (index.Commit: the manifest and entry go in
// one transaction), and then ends the put's journal in as many
// transactions as it needs (a file of 51 GiB has more than one
// transaction holds): a crash in between leaves records of a committed
// file, which cleanupPending drops without touching its shards. With
// freeName (a delivery), p is only the wished-for name.
func (s *Service) commit(ctx context.Context, p string, man *index.Manifest, freeName bool) (*index.Entry, error) {
	file := man.File
	e, oldMan, err := s.ix.Commit(p, man, freeName)
	if err != nil {
		s.deleteShards(context.WithoutCancel(ctx), allRefs(man))
		s.dropPending(file)
		return nil, err
	}
	s.dropPending(file)
	if oldMan != nil {
		s.deleteShards(context.WithoutCancel(ctx), allRefs(oldMan))
	}
	s.log.Info("put", "path", e.Path, "file", file, "size", man.Size, "segments", len(man.Segments))
	return e, nil
}

func allRefs(m *index.Manifest) []index.ShardRef {
	var out []index.ShardRef
	for _, sg := range m.Segments {
		out = append(out, sg.Shards...)
	}
	return out
}

// Get writes the file named by path, file ID or a friend's share address
// to w.
func (s *Service) Get(ctx context.Context, ref string, w io.Writer) (*index.Manifest, error) {
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
func (s *Service) List(dir string) ([]index.Item, error) { return s.ix.List(dir) }

// Mkdir creates a folder (and its parents, implicitly).
func (s *Service) Mkdir(p string) error { return s.ix.Mkdir(p) }

// Move renames or moves a file or folder. If dst is an existing folder,
// src moves into it.
func (s *Service) Move(src, dst string) (string, error) { return s.ix.Move(src, dst) }

// Remove deletes a file (and its shards from their holders), or a folder;
// a folder that is not empty needs recursive.
func (s *Service) Remove(ctx context.Context, p string, recursive bool) (int, error) {
	mans, err := s.ix.Remove(p, recursive)
	if err != nil {
		return 0, err
	}
	// A holder that does not confirm (offline) is retried later.
	for _, m := range mans {
		s.forget(ctx, allRefs(m))
	}
	return len(mans), nil
}

// Files returns every file entry (for repair and backup).
func (s *Service) Files() ([]index.Entry, error) { return s.ix.Files() }
