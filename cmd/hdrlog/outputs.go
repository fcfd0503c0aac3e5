package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/output"
)

// outputOptions say where the lines go: standard output (the default), a
// file that rotates, or both.
type outputOptions struct {
	file       string
	rotateSize string
	rotateAge  time.Duration
	rotateKeep int
	compress   string
	stdout     bool
}

func (o *outputOptions) define(fs *pflag.FlagSet) {
	fs.StringVarP(&o.file, "output-file", "o", "", "write the events to this file (mode 0600) instead of standard output; SIGUSR1 reopens it")
	fs.StringVar(&o.rotateSize, "rotate-size", "", "rotate the output file before it passes this size (e.g. 100M)")
	fs.DurationVar(&o.rotateAge, "rotate-age", 0, "rotate the output file once it is this old (e.g. 1h)")
	fs.IntVar(&o.rotateKeep, "rotate-keep", 0, "rotated files to keep, newest first (0: all)")
	fs.StringVar(&o.compress, "rotate-compress", "", "compress rotated files: gzip")
	fs.BoolVar(&o.stdout, "stdout", false, "write to standard output as well as to --output-file (or the OTLP collector)")
}

// lineOutputs are the open line outputs of a command.
type lineOutputs struct {
	w       io.Writer // every output at once
	file    *output.File
	stopSig func()
}

// open opens the outputs. A file is reopened on SIGUSR1 (logrotate's
// postrotate), with a notice on standard error.
func (o *outputOptions) open(otherSinks bool) (*lineOutputs, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	lo := &lineOutputs{}
	var ws []io.Writer
	if o.file == "" && !otherSinks || o.stdout {
		ws = append(ws, stdout)
	}
	if o.file != "" {
		size := 0
		if o.rotateSize != "" {
			var err error
			if size, err = parseSize("--rotate-size", o.rotateSize); err != nil {
				return nil, err
			}
		}
		f, err := output.OpenFile(o.file, output.FileOptions{
			MaxSize: int64(size), MaxAge: o.rotateAge, Keep: o.rotateKeep, Compress: o.compress,
		})
		if err != nil {
			return nil, fmt.Errorf("--output-file: %w", err)
		}
		lo.file = f
		ws = append(ws, f)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-sig:
					if err := f.Reopen(); err != nil {
						fmt.Fprintf(stderr, "hdrlog: SIGUSR1: reopen %s: %v\n", o.file, err)
					}
				case <-done:
					return
				}
			}
		}()
		lo.stopSig = func() { signal.Stop(sig); close(done) }
	}
	switch len(ws) {
	case 0:
		lo.w = io.Discard
	case 1:
		lo.w = ws[0]
	default:
		lo.w = io.MultiWriter(ws...)
	}
	return lo, nil
}

func (o *outputOptions) check() error {
	if o.file == "" && (o.rotateSize != "" || o.rotateAge != 0 || o.rotateKeep != 0 || o.compress != "") {
		return usagef("--rotate-size, --rotate-age, --rotate-keep and --rotate-compress apply to --output-file; name the file")
	}
	if o.rotateAge < 0 || o.rotateKeep < 0 {
		return usagef("--rotate-age and --rotate-keep cannot be negative")
	}
	if _, ok := output.Compressions[o.compress]; o.compress != "" && !ok {
		var names []string
		for n := range output.Compressions {
			names = append(names, n)
		}
		sort.Strings(names)
		return usagef("--rotate-compress %q is not one of %s", o.compress, strings.Join(names, ", "))
	}
	return nil
}

// Close closes the file, waiting for its background compressions. A second
// Close does nothing.
func (lo *lineOutputs) Close() error {
	if lo.file == nil {
		return nil
	}
	lo.stopSig()
	err := lo.file.Close()
	lo.file = nil
	return err
}
