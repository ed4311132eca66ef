package cli

import (
	"encoding/base64"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Off is what a Config field whose zero value means "the default" holds to mean "none" or
// "off": a duration of -1ns, a count of -1. Flags registered with OffDuration and OffInt store
// it when the user writes 0, so that 0 on the command line means 0 (off), never the default.
const Off = -1

// OffDuration registers a duration flag bound to *p, a Config field in which zero means the
// default and a negative value means off. The flag shows *p as its default; the user's 0 (or
// any negative duration) stores Off.
func OffDuration(fs *flag.FlagSet, p *time.Duration, name, usage string) {
	fs.Var((*offDuration)(p), name, usage)
}

type offDuration time.Duration

func (d *offDuration) String() string {
	if d == nil || *d <= 0 {
		return "0"
	}
	return time.Duration(*d).String()
}

func (d *offDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: want a number with a unit, like 500ms, 10s or 5m", s)
	}
	if v <= 0 {
		v = Off
	}
	*d = offDuration(v)
	return nil
}

// OffInt is OffDuration for a count.
func OffInt(fs *flag.FlagSet, p *int, name, usage string) {
	fs.Var((*offInt)(p), name, usage)
}

type offInt int

func (n *offInt) String() string {
	if n == nil || *n <= 0 {
		return "0"
	}
	return strconv.Itoa(int(*n))
}

func (n *offInt) Set(s string) error {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("bad number %q", s)
	}
	if v <= 0 {
		v = Off
	}
	*n = offInt(v)
	return nil
}

// OffBytes is OffDuration for a size (ParseBytes): the user's 0 stores Off.
func OffBytes(fs *flag.FlagSet, p *int64, name, usage string) {
	fs.Var((*offBytes)(p), name, usage)
}

type offBytes int64

func (b *offBytes) String() string {
	if b == nil || *b <= 0 {
		return "0"
	}
	return FormatBytes(int64(*b))
}

func (b *offBytes) Set(s string) error {
	v, err := ParseBytes(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		v = Off
	}
	*b = offBytes(v)
	return nil
}

// List registers a comma-separated list flag bound to *p; blanks around items and empty items
// are dropped. The flag shows *p as its default.
func List(fs *flag.FlagSet, p *[]string, name, usage string) {
	fs.Var((*list)(p), name, usage)
}

type list []string

func (l *list) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *list) Set(s string) error {
	*l = SplitList(s)
	return nil
}

// SplitList splits a comma-separated list, dropping blanks and empty items.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// BytesVar registers a size flag (Bytes) bound to *p; the flag shows *p as its default.
func BytesVar(fs *flag.FlagSet, p *int64, name, usage string) {
	fs.Var((*Bytes)(p), name, usage)
}

// Keys registers a flag of base64 keys, comma-separated, bound to *p; parse checks one key
// (signing.ParseKeys, cluster.ParseKeys) and the flag refuses a value it rejects.
func Keys(fs *flag.FlagSet, p *[][]byte, name, usage string, parse func(string) ([][]byte, error)) {
	fs.Var(&keys{p: p, parse: parse}, name, usage)
}

type keys struct {
	p     *[][]byte
	parse func(string) ([][]byte, error)
}

func (k *keys) String() string {
	if k == nil || k.p == nil {
		return ""
	}
	var s []string
	for _, b := range *k.p {
		s = append(s, base64.StdEncoding.EncodeToString(b))
	}
	return strings.Join(s, ",")
}

func (k *keys) Set(s string) error {
	v, err := k.parse(s)
	if err != nil {
		return err
	}
	*k.p = v
	return nil
}

// Default sets *p to def when it holds its zero value: how a Config's zero fields take their
// Default* values.
func Default[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}
