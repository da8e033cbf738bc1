package node

import (
	"errors"
	"sync"

	dbm "github.com/cometbft/cometbft-db"
	cfg "github.com/cometbft/cometbft/config"
)

// errClosed is what writes to a closed database return.
var errClosed = errors.New("chain node: database closed")

// closeSafeDB keeps CometBFT from panicking at shutdown: some of its reactor
// goroutines (the consensus reactor's queryMaj23Routine) wake from a sleep
// after Node.Stop has closed the block store and read from it, and goleveldb
// then returns "leveldb: closed", on which the block store panics. Here Close
// waits for reads under way, and a read after Close finds nothing, which
// those goroutines take as "no such block".
type closeSafeDB struct {
	dbm.DB
	mu     sync.RWMutex
	closed bool
}

func closeSafeProvider(ctx *cfg.DBContext) (dbm.DB, error) {
	db, err := cfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	return &closeSafeDB{DB: db}, nil
}

func (d *closeSafeDB) Get(k []byte) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, nil
	}
	return d.DB.Get(k)
}

func (d *closeSafeDB) Has(k []byte) (bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return false, nil
	}
	return d.DB.Has(k)
}

func (d *closeSafeDB) write(f func() error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return errClosed
	}
	return f()
}

func (d *closeSafeDB) Set(k, v []byte) error { return d.write(func() error { return d.DB.Set(k, v) }) }
func (d *closeSafeDB) SetSync(k, v []byte) error {
	return d.write(func() error { return d.DB.SetSync(k, v) })
}
func (d *closeSafeDB) Delete(k []byte) error { return d.write(func() error { return d.DB.Delete(k) }) }
func (d *closeSafeDB) DeleteSync(k []byte) error {
	return d.write(func() error { return d.DB.DeleteSync(k) })
}

func (d *closeSafeDB) Iterator(start, end []byte) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, errClosed
	}
	return d.DB.Iterator(start, end)
}

func (d *closeSafeDB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, errClosed
	}
	return d.DB.ReverseIterator(start, end)
}

func (d *closeSafeDB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.DB.Close()
}
