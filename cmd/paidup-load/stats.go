package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// latencies summarises a set of durations.
type latencies struct {
	n                       int
	p50, p95, p99, max, avg time.Duration
}

func summarise(ds []time.Duration) latencies {
	if len(ds) == 0 {
		return latencies{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	at := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return latencies{n: len(s), p50: at(0.50), p95: at(0.95), p99: at(0.99), max: s[len(s)-1], avg: sum / time.Duration(len(s))}
}

func (l latencies) String() string {
	if l.n == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s  (n=%d)", ms(l.p50), ms(l.p95), ms(l.p99), ms(l.max), l.n)
}

// ms writes a duration in milliseconds, or seconds when long.
func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f ms", float64(d)/1e6)
}

// table collects result rows and prints them aligned.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) {
	widths := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], len(c))
			}
		}
	}
	line := func(r []string) {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			if i == len(r)-1 {
				b.WriteString(c)
			} else {
				fmt.Fprintf(&b, "%-*s", widths[i], c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(t.header)
	sep := make([]string, len(t.header))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}

// machineCPU is the CPU time all processes and the kernel have used, from
// /proc/stat: user, nice, system, irq and softirq (not idle or iowait).
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// cpuMeter measures CPU use over an interval: the measured process
// (paidup or the reference design), the harness, the PostgreSQL server's
// processes, and the whole machine (from /proc/stat; the kernel samples it
// at each tick, so it can read lower than the sum of the processes).
type cpuMeter struct {
	pid                  int
	start                time.Time
	proc, self, pg, mach time.Duration
}

func startCPU(pid int) *cpuMeter {
	return &cpuMeter{pid: pid, start: time.Now(), proc: procCPU(pid), self: selfCPU(), pg: postgresCPU(), mach: machineCPU()}
}

// String says how many cores each used, on average, since the start.
func (m *cpuMeter) String() string {
	wall := time.Since(m.start)
	s := fmt.Sprintf("measured process %s, harness %s", cpuShare(procCPU(m.pid)-m.proc, wall), cpuShare(selfCPU()-m.self, wall))
	if pg := postgresCPU() - m.pg; pg > 0 {
		s += ", PostgreSQL server " + cpuShare(pg, wall)
	}
	return s + fmt.Sprintf(", whole machine %s of %d", cpuShare(machineCPU()-m.mach, wall), runtime.NumCPU())
}

// procPer is the measured process's CPU time since the start per item.
func (m *cpuMeter) procPer(items int) string {
	if items == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", float64(procCPU(m.pid)-m.proc)/1e6/float64(items))
}

// postgresCPU is the CPU time the processes named postgres have used.
// Backends that ended meanwhile count once the postmaster has reaped them
// (as its children's CPU time): a pool that opens and closes connections,
// as SQLAlchemy's does past its pool size, ends a backend per checkout.
func postgresCPU() time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		total += procCPU(pid) + reapedCPU(pid)
	}
	return total
}

// reapedCPU is the CPU time (cutime and cstime) of a process's children
// that ended and that it waited for, from /proc.
func reapedCPU(pid int) time.Duration { return statTicks(pid, 13) }

// selfCPU is the CPU time this process (the harness: load generator,
// sandbox and mailbox) has used.
func selfCPU() time.Duration { return procCPU(os.Getpid()) }

// cpuShare writes CPU time used over a wall-clock interval as cores busy.
func cpuShare(cpu, wall time.Duration) string {
	if wall <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f cores", cpu.Seconds()/wall.Seconds())
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
