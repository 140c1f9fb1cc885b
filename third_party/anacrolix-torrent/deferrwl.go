package torrent

import (
	"fmt"
	"reflect"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/missinggo/v2/panicif"
	"github.com/anacrolix/sync"
)

// Runs deferred actions on Unlock. Note that actions are assumed to be the results of changes that
// would only occur with a write lock at present. The race detector should catch instances of defers
// without the write lock being held.
type lockWithDeferreds struct {
	internal      sync.RWMutex
	unlockActions []func()
	uniqueActions map[funcAndArgKey]struct{} // distpac patch 23: was map[any], boxing every key
	// Currently unlocking, defers should not occur?
	allowDefers bool
}

func (me *lockWithDeferreds) Lock() {
	me.internal.Lock()
	panicif.True(me.allowDefers)
	me.allowDefers = true
}

func (me *lockWithDeferreds) Unlock() {
	panicif.False(me.allowDefers)
	me.allowDefers = false
	startLen := len(me.unlockActions)
	var i int
	for i = 0; i < len(me.unlockActions); i++ {
		me.unlockActions[i]()
	}
	if i != len(me.unlockActions) {
		panic(fmt.Sprintf("num deferred changed while running: %v -> %v", startLen, len(me.unlockActions)))
	}
	me.unlockActions = me.unlockActions[:0]
	clear(me.uniqueActions) // distpac patch 23: kept for the next lock, not made again
	me.internal.Unlock()
}

func (me *lockWithDeferreds) RLock() {
	me.internal.RLock()
}

func (me *lockWithDeferreds) RUnlock() {
	me.internal.RUnlock()
}

// Not allowed after unlock has started.
func (me *lockWithDeferreds) Defer(action func()) {
	me.deferInner(action)
}

// Already guarded.
func (me *lockWithDeferreds) deferInner(action func()) {
	panicif.False(me.allowDefers)
	me.unlockActions = append(me.unlockActions, action)
}

// Protected from looping by once filter.
func (me *lockWithDeferreds) deferOnceInner(key funcAndArgKey, action func()) {
	if me.firstDefer(key) {
		me.deferInner(action)
	}
}

// firstDefer records key and reports whether it is new since the last unlock.
func (me *lockWithDeferreds) firstDefer(key funcAndArgKey) bool {
	panicif.False(me.allowDefers)
	if _, ok := me.uniqueActions[key]; ok {
		return false
	}
	g.MakeMapIfNil(&me.uniqueActions)
	me.uniqueActions[key] = struct{}{}
	return true
}

// Protected from looping by once filter. Note that if arg is the receiver of action, it should
// match the receiver type (like being a pointer if the method takes a pointer receiver).
func (me *lockWithDeferreds) DeferUniqueUnaryFunc(arg any, action func()) {
	me.deferOnceInner(unaryFuncKey(action, arg), action)
}

// deferUniqueMethod is DeferUniqueUnaryFunc(recv, recv.method) without the
// method value (distpac patch 23): that closure escaped and was allocated at
// every call, also when the action was already deferred, which is most calls
// (a piece's state change is published once per unlock however often it
// changes). method is a method expression, (*T).method.
func deferUniqueMethod[T any](me *lockWithDeferreds, recv *T, method func(*T)) {
	if me.firstDefer(funcAndArgKey{funcPtr: reflect.ValueOf(method).Pointer(), key: recv}) {
		me.deferInner(func() { method(recv) })
	}
}

// distpac patch 23: the function's part of the key is its code pointer.
// Upstream took reflect.Value.String, which is "<func() Value>" for every
// func() (so only the argument told two actions apart) and allocated the
// string at every call: with the map made again at every unlock, a tenth of
// a swarm client's allocations. Method values of one method share a code
// pointer, as they shared that string.
func unaryFuncKey(f func(), key any) funcAndArgKey {
	return funcAndArgKey{
		funcPtr: reflect.ValueOf(f).Pointer(),
		key:     key,
	}
}

type funcAndArgKey struct {
	funcPtr uintptr
	key     any
}
