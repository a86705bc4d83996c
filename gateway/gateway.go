package main

import (
	"context"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	drive "drivegw/gen/drive_v1"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"
)

// newGateway is the whole HTTP surface: the generated handlers of every google.api.http rule,
// the two hand-written streaming handlers, and the middleware around them.
func newGateway(conn *grpc.ClientConn, maxBody int64) (http.Handler, error) {
	json := &runtime.JSONPb{OrigName: false, EmitDefaults: true} // camelCase names, zero values shown
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, json),
		runtime.WithMarshalerOption(rawMIME, &rawChunks{JSONPb: json}),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithProtoErrorHandler(writeError),
	)

	// This mux tries handlers in registration order, so the streaming handlers (which replace
	// the generated ones: those wrap every message in {"result": ...}) and the literal
	// /api/tasks/stats (before /api/tasks/{task_id}) go first.
	files := drive.NewFileServiceClient(conn)
	downloadRoutes, err := routesOf(drive.File_drive_v1_files_proto, "FileService", "ReadFileContent")
	if err != nil {
		return nil, err
	}
	for _, route := range downloadRoutes {
		mux.Handle(route.method, route.pattern, downloads{client: files, mux: mux, json: json}.serve)
	}
	watchRoutes, err := routesOf(drive.File_drive_v1_tasks_proto, "TaskService", "WatchTasks")
	if err != nil {
		return nil, err
	}
	tasks := drive.NewTaskServiceClient(conn)
	for _, route := range watchRoutes {
		mux.Handle(route.method, route.pattern, watches{client: tasks, mux: mux, json: json}.serve)
	}

	ctx := context.Background()
	registrations := []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		drive.RegisterStatsServiceHandler,
		drive.RegisterUploadServiceHandler,
		drive.RegisterTaskServiceHandler,
		drive.RegisterFileServiceHandler,
	}
	for _, register := range registrations {
		if err := register(ctx, mux, conn); err != nil {
			return nil, err
		}
	}

	chunkRoutes, err := routesOf(drive.File_drive_v1_uploads_proto, "UploadService", "UploadChunk")
	if err != nil {
		return nil, err
	}
	var handler http.Handler = mux
	handler = chunkBodies(chunkRoutes, handler)
	handler = seedEnumQueries(handler)
	handler = limitBodies(maxBody, handler)
	handler = drivePrefix(handler)
	return handler, nil
}

// incomingHeader forwards no HTTP header as gRPC metadata on its own: the runtime already passes
// `Authorization` through as `authorization`, and nothing else is part of the contract.
func incomingHeader(string) (string, bool) { return "", false }

// outgoingHeader turns the server's `x-` metadata (`x-total`, `x-file-size`) into response
// headers of the same name (`X-Total`); other metadata stays internal.
func outgoingHeader(key string) (string, bool) {
	if strings.HasPrefix(key, "x-") {
		return textproto.CanonicalMIMEHeaderKey(key), true
	}
	return "", false
}

// drivePrefix serves /drive/... as /api/...: the DysonNetwork gateway's spelling of the same API.
func drivePrefix(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/drive/") {
			r.URL.Path = "/api/" + strings.TrimPrefix(r.URL.Path, "/drive/")
			r.URL.RawPath = ""
		}
		next.ServeHTTP(w, r)
	})
}

// limitBodies refuses bodies above maxBody: 413 when Content-Length says so, and a read error
// (400) when a chunked body grows past it.
func limitBodies(maxBody int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			// Read what the client is still sending (up to twice the limit) so that it gets to
			// read the 413 instead of a connection reset; beyond that the connection is closed.
			io.Copy(io.Discard, io.LimitReader(r.Body, 2*maxBody))
			writeBody(w, http.StatusRequestEntityTooLarge, errorBody{
				Code:    "PAYLOAD_TOO_LARGE",
				Message: "The request body is larger than this gateway accepts.",
				Status:  http.StatusRequestEntityTooLarge,
				Details: map[string]string{"limit": formatInt(maxBody)},
			})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}
