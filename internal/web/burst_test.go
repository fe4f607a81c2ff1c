package web

import (
	"runtime"
	"testing"
	"time"
)

// The refusal counter's memory does not grow with the refusals it counts:
// a hundred thousand refusals (a forged-webhook flood of 11 s once grew
// the old counter by 15 MB) leave the heap as it was, and adding one
// allocates nothing.
func TestBurstCountMemoryIsFixed(t *testing.T) {
	var c burstCount
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range 100_000 {
		c.add(now.Add(time.Duration(i)*100*time.Microsecond), refusalAlertThreshold)
	}
	grown := int64(heap()) - int64(before)
	if grown > 64<<10 {
		t.Errorf("100,000 refusals grew the heap by %d kB", grown/1024)
	}
	if n := testing.AllocsPerRun(1000, func() { c.add(now, refusalAlertThreshold) }); n != 0 {
		t.Errorf("a refusal allocates %v times", n)
	}
	runtime.KeepAlive(&c)
}

// The window counts the last ten minutes, by the minute; the alert comes
// at the threshold, and again only an hour after the last.
func TestBurstCountWindowAndAlerts(t *testing.T) {
	var c burstCount
	t0 := time.Date(2026, 11, 23, 10, 0, 30, 0, time.UTC)
	for i := range 4 {
		if _, alert := c.add(t0, 5); alert {
			t.Fatalf("alert after %d", i+1)
		}
	}
	if n, alert := c.add(t0.Add(time.Minute), 5); n != 5 || !alert {
		t.Fatalf("the fifth: n=%d alert=%v", n, alert)
	}
	if n, alert := c.add(t0.Add(2*time.Minute), 5); n != 6 || alert {
		t.Fatalf("the sixth: n=%d alert=%v", n, alert)
	}
	if n, _ := c.add(t0.Add(12*time.Minute), 5); n != 1 {
		t.Fatalf("ten minutes on, the old ones are out of the window: n=%d", n)
	}
	for i := range 10 {
		if _, alert := c.add(t0.Add(30*time.Minute), 5); alert {
			t.Fatalf("alerted again %d within the hour", i)
		}
	}
	alerts := 0
	for range 5 {
		if _, alert := c.add(t0.Add(61*time.Minute), 5); alert {
			alerts++
		}
	}
	if alerts != 1 {
		t.Fatalf("%d alerts an hour after the last, with refusals still coming; want 1", alerts)
	}
}
