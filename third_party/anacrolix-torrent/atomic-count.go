package torrent

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync/atomic"
)

// distpac patch: an atomic.Int64, which the compiler aligns to 8 bytes on 32-bit platforms too.
// The int64 of upstream sits at any multiple of 4 in a PeerConn there, and 386 and 32-bit ARM
// panic on an unaligned 64-bit atomic ("unaligned 64-bit atomic operation", seen on the first
// bytes a peer connection wrote under GOARCH=386).
type Count struct {
	n atomic.Int64
}

var _ fmt.Stringer = (*Count)(nil)

func (me *Count) Add(n int64) {
	me.n.Add(n)
}

func (me *Count) Int64() int64 {
	return me.n.Load()
}

func (me *Count) String() string {
	return fmt.Sprintf("%v", me.Int64())
}

func (me *Count) MarshalJSON() ([]byte, error) {
	return json.Marshal(me.n.Load())
}

// TODO: Can this use more generics to speed it up? Should we be checking the field types?
func copyCountFields[T any](src *T) (dst T) {
	srcValue := reflect.ValueOf(src).Elem()
	dstValue := reflect.ValueOf(&dst).Elem()
	for i := 0; i < reflect.TypeFor[T]().NumField(); i++ {
		n := srcValue.Field(i).Addr().Interface().(*Count).Int64()
		dstValue.Field(i).Addr().Interface().(*Count).Add(n)
	}
	return
}

// handshakeStatsOnly reports whether s counts nothing but BytesWritten and BytesRead (distpac
// patch 19: it replaces a comparison with a struct literal, which copied every Count).
func handshakeStatsOnly(s *ConnStats) bool {
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		c := v.Field(i).Addr().Interface().(*Count)
		if c != &s.BytesWritten && c != &s.BytesRead && c.Int64() != 0 {
			return false
		}
	}
	return true
}
