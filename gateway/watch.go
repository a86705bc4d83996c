package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	drive "drivegw/gen/drive_v1"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/utilities"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// watches serves TaskService.WatchTasks as JSON lines (application/x-ndjson): one
// WatchTasksResponse per line, `{"event": {"sequence": "7", "type": "task.progress", ...}}`,
// flushed as it comes. Filters and the replay point come from the query string
// (`?afterSequence=N&taskIds=a&taskIds=b&types=TASK_TYPE_CUSTOM`). The 200 and its headers are
// sent only once the server has subscribed (initial metadata `x-watch: subscribed`), so an event caused after the
// headers arrive is never missed; a bad request is an ordinary error response. An error after
// that ends the stream with one last line `{"error": <the error body>}`.
// subscribedKey is the initial metadata WatchTasks sends once the subscription is live.
const subscribedKey = "x-watch"

type watches struct {
	client drive.TaskServiceClient
	mux    *runtime.ServeMux
	json   *runtime.JSONPb
}

func (h watches) serve(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	request := &drive.WatchTasksRequest{}
	if err := runtime.PopulateQueryParameters(request, r.URL.Query(), utilities.NewDoubleArray(nil)); err != nil {
		writeError(r.Context(), h.mux, nil, w, r, status.Errorf(codes.InvalidArgument, "%v", err))
		return
	}
	ctx, err := runtime.AnnotateContext(r.Context(), h.mux, r)
	if err != nil {
		writeError(r.Context(), h.mux, nil, w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.client.WatchTasks(ctx, request)
	if err != nil {
		writeError(ctx, h.mux, nil, w, r, err)
		return
	}
	header, err := stream.Header()
	if err != nil {
		writeError(ctx, h.mux, nil, w, r, err)
		return
	}
	// Headers without the subscription marker belong to a refused watch: its status follows.
	var pending *drive.WatchTasksResponse
	if len(header.Get(subscribedKey)) == 0 {
		if pending, err = stream.Recv(); err != nil {
			writeError(ctx, h.mux, nil, w, r, err)
			return
		}
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // ask proxies in front (nginx) not to buffer
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	for {
		message, err := pending, error(nil)
		if pending == nil {
			message, err = stream.Recv()
		}
		pending = nil
		var line []byte
		if err == io.EOF {
			return
		}
		if err != nil {
			if r.Context().Err() != nil {
				return // the client went away
			}
			line, _ = json.Marshal(map[string]errorBody{"error": bodyOf(status.Convert(err))})
		} else if line, err = h.json.Marshal(message); err != nil {
			line, _ = json.Marshal(map[string]errorBody{"error": bodyOf(status.Convert(err))})
		}
		if _, writeErr := w.Write(append(line, '\n')); writeErr != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if err != nil {
			return
		}
	}
}
