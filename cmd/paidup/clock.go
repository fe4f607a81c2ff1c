package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// followedClock is a business clock that follows a processor's test
// clock: the wall clock plus the offset last read from it.
type followedClock struct {
	read   func(context.Context) (time.Time, error)
	offset atomic.Int64 // nanoseconds
}

// Now is the test clock's time, as of the last read plus the time since.
func (c *followedClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// sync reads the test clock once.
func (c *followedClock) sync(ctx context.Context) error {
	before := time.Now()
	t, err := c.read(ctx)
	if err != nil {
		return err
	}
	// The clock's time is to the second; take the middle of the request.
	wall := before.Add(time.Since(before) / 2)
	c.offset.Store(int64(t.Sub(wall).Round(time.Second)))
	return nil
}

// run keeps the offset up to date until ctx ends.
func (c *followedClock) run(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.sync(ctx); err != nil {
			if !failing {
				log.Warn("reading the test clock; keeping its last offset", "err", err)
			}
			failing = true
			continue
		}
		failing = false
	}
}

// watchJumps calls onJump, until ctx ends, whenever the business clock
// moves against the wall clock by a second or more (a test clock
// advanced): deadlines now overdue should fire at once rather than at the
// next periodic sweep.
func watchJumps(ctx context.Context, now func() time.Time, every time.Duration, onJump func()) {
	offset := now().Sub(time.Now())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o := now().Sub(time.Now())
		if d := o - offset; d >= time.Second || d <= -time.Second {
			offset = o
			onJump()
		}
	}
}
