// Package store is the box's persistent key-value state: a badger/v4
// database tuned for a small appliance (bounded memory, synced writes), with
// JSON helpers and key prefixes owned by the packages that use it.
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// ErrNotFound is returned by Get when a key does not exist.
var ErrNotFound = errors.New("store: key not found")

// KV is the small interface the rest of the box programs against. Every
// implementation must pass storetest.Run.
type KV interface {
	Get(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	// Scan calls fn for every key with the prefix, in key order. fn must
	// not keep k or v after it returns.
	Scan(prefix []byte, fn func(k, v []byte) error) error
	// Batch applies puts and deletes atomically. A batch within
	// MaxBatchOps and MaxBatchBytes always fits; a larger one may fail
	// with ErrBatchTooLarge, and then applies nothing. Writes that may
	// not fit go through Chunked.
	Batch(func(b *Batch) error) error
}

// ErrBatchTooLarge is returned by KV.Batch for a batch larger than the
// KV can apply in one transaction.
var ErrBatchTooLarge = errors.New("store: batch too large for one transaction")

// Every KV applies a batch of up to MaxBatchOps writes whose keys and
// values take up to MaxBatchBytes (counting batchOpOverhead per write) in
// one transaction. badger's limit, with the memtable Open sets, is about
// 6,500 writes or 630 KB; these leave room for its own accounting.
const (
	MaxBatchOps     = 2048
	MaxBatchBytes   = 256 << 10
	batchOpOverhead = 16
)

// Batch collects writes. KV.Batch applies them all in one transaction;
// Chunked applies them in order in as many as it needs, splitting only
// where Cut was called.
type Batch struct {
	ops  []op
	cuts []int // len(ops) at each Cut
}

type op struct {
	key, value []byte
	del        bool
}

// Put adds a write to the batch.
func (b *Batch) Put(key, value []byte) {
	b.ops = append(b.ops, op{key: bytes.Clone(key), value: bytes.Clone(value)})
}

// Delete adds a deletion to the batch.
func (b *Batch) Delete(key []byte) { b.ops = append(b.ops, op{key: bytes.Clone(key), del: true}) }

// Cut ends a unit of writes: Chunked keeps the writes between two cuts in
// one transaction and may commit them before the writes after the cut.
// KV.Batch ignores cuts.
func (b *Batch) Cut() {
	if n := len(b.ops); n > 0 && (len(b.cuts) == 0 || b.cuts[len(b.cuts)-1] != n) {
		b.cuts = append(b.cuts, n)
	}
}

// Chunked applies the writes fn collects for writes that may exceed one
// transaction (a folder of thousands of files). It applies them in order,
// packing whole units (the writes between two Cuts; without a cut, the
// whole batch) into KV.Batch calls within MaxBatchOps and MaxBatchBytes;
// a unit over the limits goes alone and may fail with ErrBatchTooLarge.
//
// What it keeps: each unit is atomic, and units commit in order, so a
// crash or an error leaves exactly the units before some cut applied. It
// does not isolate: other writers may run between two transactions. So a
// caller orders its units so that every such prefix is a state it can
// read correctly and finish (or journals the operation in the first unit
// and ends the journal in the last), and serializes its writers.
func Chunked(kv KV, fn func(b *Batch) error) error {
	var all Batch
	if err := fn(&all); err != nil {
		return err
	}
	all.Cut()
	apply := func(ops []op) error {
		if len(ops) == 0 {
			return nil
		}
		return kv.Batch(func(b *Batch) error { b.ops = ops; return nil })
	}
	// ops[from:to] is the chunk being packed; units are contiguous.
	from, to, size := 0, 0, 0
	for _, end := range all.cuts {
		n := 0
		for _, o := range all.ops[to:end] {
			n += len(o.key) + len(o.value) + batchOpOverhead
		}
		if to > from && (end-from > MaxBatchOps || size+n > MaxBatchBytes) {
			if err := apply(all.ops[from:to]); err != nil {
				return err
			}
			from, size = to, 0
		}
		to, size = end, size+n
	}
	return apply(all.ops[from:to])
}

// DB is a badger-backed KV.
type DB struct {
	db *badger.DB
}

// Options tune the database. The zero value is right for a box.
type Options struct {
	// InMemory keeps everything in RAM (tests only).
	InMemory bool
	Logger   *slog.Logger
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, o Options) (*DB, error) {
	opts := badger.DefaultOptions(dir)
	if o.InMemory {
		opts = badger.DefaultOptions("").WithInMemory(true)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// A box has little RAM and shares it with several daemons: keep
	// badger's caches and tables small, and make every commit durable.
	opts = opts.
		WithSyncWrites(true).
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		WithBaseTableSize(1 << 20).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(2 << 20).
		WithValueLogFileSize(32 << 20).
		WithValueThreshold(1 << 10).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{o.Logger})
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return &DB{db: db}, nil
}

// Close flushes and closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Badger exposes the underlying database for packages that need
// transactions across several keys.
func (d *DB) Badger() *badger.DB { return d.db }

// Get returns a copy of the value stored under key.
func (d *DB) Get(key []byte) ([]byte, error) {
	var out []byte
	err := d.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = it.ValueCopy(nil)
		return err
	})
	return out, err
}

// Put stores value under key.
func (d *DB) Put(key, value []byte) error {
	return d.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}

// Delete removes key; deleting a missing key is not an error.
func (d *DB) Delete(key []byte) error {
	return d.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) })
}

// Scan iterates keys with prefix in order.
func (d *DB) Scan(prefix []byte, fn func(k, v []byte) error) error {
	return d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			err := item.Value(func(v []byte) error { return fn(item.Key(), v) })
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Batch applies the writes collected by fn in one transaction.
func (d *DB) Batch(fn func(b *Batch) error) error {
	var b Batch
	if err := fn(&b); err != nil {
		return err
	}
	return d.db.Update(func(txn *badger.Txn) error {
		for _, o := range b.ops {
			var err error
			if o.del {
				err = txn.Delete(o.key)
			} else {
				err = txn.Set(o.key, o.value)
			}
			if errors.Is(err, badger.ErrTxnTooBig) {
				return fmt.Errorf("%w (%d writes)", ErrBatchTooLarge, len(b.ops))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// GetJSON decodes the JSON value under key into v.
func GetJSON(kv KV, key []byte, v any) error {
	b, err := kv.Get(key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: decode %q: %w", key, err)
	}
	return nil
}

// PutJSON stores v as JSON under key.
func PutJSON(kv KV, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return kv.Put(key, b)
}

// badgerLogger routes badger's printf logging into slog at debug level,
// except warnings and errors, which a box operator needs to see.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) log(level slog.Level, f string, a ...any) {
	if b.l == nil {
		return
	}
	b.l.Log(context.Background(), level, fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a...) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a...) }

// GetJSONBytes decodes a JSON value read by Scan.
func GetJSONBytes(b []byte, v any) error { return json.Unmarshal(b, v) }

// MarshalJSON encodes v for a Batch.
func MarshalJSON(v any) ([]byte, error) { return json.Marshal(v) }
