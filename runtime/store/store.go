// Package store keeps the local runtime's state (task definitions with
// revisions, services, tasks, events, schedules, webhooks, secrets) in one
// bbolt file, so it survives a restart of the supervisor.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hoistctl/hoist/runtime/api"
)

// Buckets.
var (
	TaskDefs  = []byte("taskdefs")
	Services  = []byte("services")
	Tasks     = []byte("tasks")
	Events    = []byte("events")
	Secrets   = []byte("secrets")
	Schedules = []byte("schedules")
	Webhooks  = []byte("webhooks")
	Meta      = []byte("meta")
)

var all = [][]byte{TaskDefs, Services, Tasks, Events, Secrets, Schedules, Webhooks, Meta}

// Store is the runtime's database.
type Store struct {
	db *bolt.DB
}

// Open opens (creating, mode 0600) the database at path.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening the runtime's state %s: %w", path, err)
	}
	_ = os.Chmod(path, 0o600)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range all {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

func (s *Store) Close() error { return s.db.Close() }

// Put stores v as JSON under key.
func (s *Store) Put(bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), data) })
}

// Get reads key into v; api.ErrNotFound when absent.
func (s *Store) Get(bucket []byte, key string, v any) error {
	return s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucket).Get([]byte(key))
		if data == nil {
			return api.ErrNotFound
		}
		return json.Unmarshal(data, v)
	})
}

// Delete removes key.
func (s *Store) Delete(bucket []byte, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(key)) })
}

// List calls fn with every value in key order.
func List[T any](s *Store, bucket []byte) ([]T, error) {
	var out []T
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var t T
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("%s/%s: %w", bucket, k, err)
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// Keys lists a bucket's keys.
func (s *Store) Keys(bucket []byte) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

func tdKey(family string, rev int) []byte { return fmt.Appendf(nil, "%s/%08d", family, rev) }

// RegisterTaskDefinition stores td as the next revision of its family.
func (s *Store) RegisterTaskDefinition(td *api.TaskDefinition) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(TaskDefs)
		c := b.Cursor()
		prefix := []byte(td.Family + "/")
		rev := 0
		for k, v := c.Seek(prefix); k != nil && len(k) > len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			var old api.TaskDefinition
			if err := json.Unmarshal(v, &old); err == nil && old.Revision > rev {
				rev = old.Revision
			}
		}
		td.Revision = rev + 1
		td.RegisteredAt = time.Now().UTC()
		data, err := json.Marshal(td)
		if err != nil {
			return err
		}
		return b.Put(tdKey(td.Family, td.Revision), data)
	})
}

// TaskDefinition finds family:revision; revision 0 is the latest.
func (s *Store) TaskDefinition(family string, rev int) (*api.TaskDefinition, error) {
	var out *api.TaskDefinition
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(TaskDefs)
		if rev > 0 {
			data := b.Get(tdKey(family, rev))
			if data == nil {
				return nil
			}
			out = new(api.TaskDefinition)
			return json.Unmarshal(data, out)
		}
		c := b.Cursor()
		prefix := []byte(family + "/")
		for k, v := c.Seek(prefix); k != nil && len(k) > len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			td := new(api.TaskDefinition)
			if err := json.Unmarshal(v, td); err != nil {
				return err
			}
			out = td
		}
		return nil
	})
	if err == nil && out == nil {
		if rev > 0 {
			return nil, fmt.Errorf("%w: task definition %s", api.ErrNotFound, api.TaskDefinitionRef(family, rev))
		}
		return nil, fmt.Errorf("%w: task definition family %q has no revision", api.ErrNotFound, family)
	}
	return out, err
}

// AppendEvent assigns e the next sequence number and stores it.
func (s *Store) AppendEvent(e *api.Event) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(Events)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), data)
	})
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

// EventsSince returns up to limit events with Seq > since.
func (s *Store) EventsSince(since uint64, limit int) ([]api.Event, error) {
	var out []api.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(Events).Cursor()
		for k, v := c.Seek(seqKey(since + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var e api.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// PruneEvents keeps the newest keep events.
func (s *Store) PruneEvents(keep int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(Events)
		n := b.Stats().KeyN
		c := b.Cursor()
		for k, _ := c.First(); k != nil && n > keep; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
			n--
		}
		return nil
	})
}

// PutSecret stores a secret value.
func (s *Store) PutSecret(name, value string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(Secrets).Put([]byte(name), []byte(value)) })
}

// Secret returns a secret value.
func (s *Store) Secret(name string) (string, error) {
	var v string
	err := s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(Secrets).Get([]byte(name))
		if data == nil {
			return fmt.Errorf("%w: secret %q is not in the runtime's store (put it with `hoist deploy`, which reads the workspace's secrets file)", api.ErrNotFound, name)
		}
		v = string(data)
		return nil
	})
	return v, err
}

// Reset empties every bucket.
func (s *Store) Reset() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range all {
			if err := tx.DeleteBucket(b); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
}
