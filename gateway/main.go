// Command drive-gateway is the reference REST gateway of drive-service: it serves the
// specification's REST API (the google.api.http rules of protos/drive/v1) and forwards every call
// to the gRPC server. It is for trying REST locally and for the REST test tier; production runs
// Envoy's gRPC-JSON transcoder (deploy/envoy.yaml).
//
//	drive-gateway -listen 127.0.0.1:8080 -backend 127.0.0.1:50051
//
// It logs JSON lines on stderr; the first is {"level":"INFO","message":"serving","port":N,...}
// once it accepts connections (port 0 picks a free port). SIGTERM or SIGINT stops it gracefully.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP address to serve (port 0 = any free port)")
	backend := flag.String("backend", "127.0.0.1:50051", "drive-service gRPC address (plaintext)")
	maxBody := flag.Int64("max-body-bytes", 24<<20,
		"largest request body; a JSON chunk carries base64 (4/3 of a 16 MiB chunk is 21.3 MiB)")
	watchStdin := flag.Bool("exit-with-stdin", false,
		"stop when stdin closes (a parent that passes a pipe takes the gateway with it when it dies)")
	flag.Parse()

	conn, err := grpc.Dial(*backend, grpc.WithInsecure(),
		// Chunks are megabytes: windows of that size let one go out without waiting for
		// window updates.
		grpc.WithInitialWindowSize(16<<20), grpc.WithInitialConnWindowSize(32<<20),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(int(*maxBody)+(1<<20)),
			grpc.MaxCallRecvMsgSize(64<<20),
		))
	if err != nil {
		fatal("cannot dial the backend", err)
	}
	defer conn.Close()

	handler, err := newGateway(conn, *maxBody)
	if err != nil {
		fatal("cannot build the routes", err)
	}
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal("cannot listen", err)
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- server.Serve(listener) }()
	logLine("INFO", "serving", map[string]interface{}{
		"port": listener.Addr().(*net.TCPAddr).Port, "listen": listener.Addr().String(), "backend": *backend,
	})

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	if *watchStdin {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			signals <- syscall.SIGTERM
		}()
	}
	select {
	case err := <-done:
		fatal("server stopped", err)
	case <-signals:
	}
	// Streams (events, downloads) never end on their own: give them a moment, then close.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		server.Close()
	}
	logLine("INFO", "stopped", nil)
}

// logLine writes one JSON log line on stderr.
func logLine(level, message string, fields map[string]interface{}) {
	entry := map[string]interface{}{"level": level, "message": message, "time": time.Now().UTC().Format(time.RFC3339Nano)}
	for key, value := range fields {
		entry[key] = value
	}
	line, _ := json.Marshal(entry)
	os.Stderr.Write(append(line, '\n'))
}

func fatal(message string, err error) {
	logLine("ERROR", message, map[string]interface{}{"error": err.Error()})
	os.Exit(1)
}
