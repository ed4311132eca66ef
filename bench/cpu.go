package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// procCPU is the CPU time (user + system) that pid and every process under it have used so
// far: nginx's and varnishd's workers are its children. Zero when /proc cannot tell.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	type st struct {
		ppid int
		cpu  time.Duration
	}
	all := map[int]st{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: the fields after it start past its ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		stm, _ := strconv.ParseInt(f[12], 10, 64)
		all[p] = st{ppid, time.Duration(ut+stm) * clockTick}
	}
	var total time.Duration
	var walk func(p, depth int)
	walk = func(p, depth int) {
		total += all[p].cpu
		if depth > 4 {
			return
		}
		for c, s := range all {
			if s.ppid == p {
				walk(c, depth+1)
			}
		}
	}
	walk(pid, 0)
	return total
}

// pid is the process id of a proc the bench started, 0 for one it did not.
func (p *proc) pid() int {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}
