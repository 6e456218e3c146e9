// webapp is the local runtime's test workload: a static HTTP server for a
// FROM scratch image. It is built by the tests with CGO_ENABLED=0.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var hoard [][]byte
var sick atomic.Bool
var mu sync.Mutex

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-check" {
		// Container health check mode: exit 0 when URL answers 200.
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(os.Args[2])
		if err != nil || resp.StatusCode != 200 {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 2 && os.Args[1] == "-exit" {
		n, _ := strconv.Atoi(os.Args[2])
		fmt.Println("exiting with", n)
		os.Exit(n)
	}
	if len(os.Args) > 2 && os.Args[1] == "-write" {
		// One-off task mode: append a line to a file and exit.
		f, err := os.OpenFile(os.Args[2], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		fmt.Fprintf(f, "run at %s by uid %d\n", time.Now().UTC().Format(time.RFC3339Nano), os.Getuid())
		f.Close()
		fmt.Println("wrote", os.Args[2])
		return
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host, _ := os.Hostname()
	rev := os.Getenv("REV")
	delay, _ := time.ParseDuration(os.Getenv("START_DELAY"))
	time.Sleep(delay)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s rev=%s\n", host, rev)
	})
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() || os.Getenv("UNHEALTHY") != "" {
			http.Error(w, "unhealthy", 500)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) {
		sick.Store(true)
		fmt.Fprintln(w, "now unhealthy")
	})
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("name")))
	})
	http.HandleFunc("/id", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "uid=%d gid=%d\n", os.Getuid(), os.Getgid())
		st, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "CapEff") || strings.HasPrefix(l, "NoNewPrivs") || strings.HasPrefix(l, "Seccomp:") {
				fmt.Fprintln(w, l)
			}
		}
	})
	http.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
		fmt.Fprintf(w, "slept %s on %s\n", d, host)
	})
	http.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		b := make([]byte, mb<<20)
		for i := range b {
			b[i] = byte(i)
		}
		mu.Lock()
		hoard = append(hoard, b)
		mu.Unlock()
		fmt.Fprintf(w, "holding %d MiB more\n", mb)
	})
	http.HandleFunc("/burn", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		end := time.Now().Add(d)
		x := 0
		for time.Now().Before(end) {
			x++
		}
		fmt.Fprintf(w, "burned %s (%d)\n", d, x)
	})
	http.HandleFunc("/volume", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("path")
		if r.Method == "POST" {
			if err := os.WriteFile(p, []byte(host), 0o644); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			http.Error(w, err.Error(), 404)
			return
		}
		w.Write(data)
	})
	if os.Getenv("TCP_ECHO") != "" {
		ln, err := net.Listen("tcp", ":"+os.Getenv("TCP_ECHO"))
		if err == nil {
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						fmt.Fprintf(c, "echo from %s\n", host)
						buf := make([]byte, 4096)
						for {
							n, err := c.Read(buf)
							if err != nil {
								return
							}
							c.Write(buf[:n])
						}
					}()
				}
			}()
		}
	}
	if d, _ := time.ParseDuration(os.Getenv("START_BURN")); d > 0 {
		// Busy for a while after it starts answering, as a JVM is.
		go func() {
			end := time.Now().Add(d)
			for time.Now().Before(end) {
			}
		}()
	}
	fmt.Printf("webapp %s rev=%s listening on :%s\n", host, rev, port)
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}
