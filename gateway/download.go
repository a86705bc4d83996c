package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	drive "drivegw/gen/drive_v1"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/utilities"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// downloads serves FileService.ReadFileContent (GET, or POST with {"password": ...}) as the raw
// file: Content-Type from the stream's first google.api.HttpBody, the bytes as they arrive, and
// HTTP ranges. `Range: bytes=a-b` or `bytes=a-` becomes offset/length and the answer is 206 with
// Content-Range (the total comes from the `x-file-size` metadata); an unsatisfiable range is 416.
// Other Range forms (suffix, several ranges) are ignored and the whole file is sent (RFC 9110
// lets a server do that). An error after the first byte aborts the connection, so a client never
// takes a truncated body for a whole one.
type downloads struct {
	client drive.FileServiceClient
	mux    *runtime.ServeMux
	json   *runtime.JSONPb
}

func (d downloads) serve(w http.ResponseWriter, r *http.Request, params map[string]string) {
	request := &drive.ReadFileContentRequest{}
	if r.Method == http.MethodPost {
		if err := d.json.NewDecoder(r.Body).Decode(request); err != nil && err != io.EOF {
			writeError(r.Context(), d.mux, nil, w, r, status.Errorf(codes.InvalidArgument, "%v", err))
			return
		}
	}
	request.FileId = params["file_id"]
	query := utilities.NewDoubleArray([][]string{{"file_id"}, {"fileId"}, {"password"}})
	if err := runtime.PopulateQueryParameters(request, r.URL.Query(), query); err != nil {
		writeError(r.Context(), d.mux, nil, w, r, status.Errorf(codes.InvalidArgument, "%v", err))
		return
	}
	wanted, ranged := parseRange(r.Header.Get("Range"))
	if ranged {
		request.Offset, request.Length = wanted.first, wanted.length()
	}

	ctx, err := runtime.AnnotateContext(r.Context(), d.mux, r)
	if err != nil {
		writeError(r.Context(), d.mux, nil, w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := d.client.ReadFileContent(ctx, request)
	if err != nil {
		writeError(ctx, d.mux, nil, w, r, err)
		return
	}
	first, err := stream.Recv() // every check runs before the first message: errors come here
	if err != nil {
		if size, bad := badRange(err); ranged && bad {
			unsatisfiable(w, size)
			return
		}
		writeError(ctx, d.mux, nil, w, r, err)
		return
	}
	header, _ := stream.Header()
	size, sizeErr := strconv.ParseInt(strings.Join(header.Get("x-file-size"), ""), 10, 64)
	if sizeErr != nil {
		writeError(ctx, d.mux, nil, w, r, status.Error(codes.Internal, "the server sent no x-file-size"))
		return
	}
	if ranged && request.Offset >= size {
		unsatisfiable(w, size)
		return
	}

	h := w.Header()
	h.Set("Content-Type", first.GetContentType())
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-File-Size", strconv.FormatInt(size, 10))
	switch {
	case ranged:
		last := size - 1
		if wanted.last >= 0 && wanted.last < last {
			last = wanted.last
		}
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", request.Offset, last, size))
		h.Set("Content-Length", strconv.FormatInt(last-request.Offset+1, 10))
		w.WriteHeader(http.StatusPartialContent)
	default:
		expected := size - request.Offset
		if request.Length > 0 && request.Length < expected {
			expected = request.Length
		}
		if expected >= 0 {
			h.Set("Content-Length", strconv.FormatInt(expected, 10))
		}
		w.WriteHeader(http.StatusOK)
	}
	for message := first; ; {
		if _, err := w.Write(message.GetData()); err != nil {
			return // the client went away; the deferred cancel ends the call
		}
		message, err = stream.Recv()
		if err == io.EOF {
			return
		}
		if err != nil {
			logLine("WARNING", "download failed after its headers", map[string]interface{}{"error": err.Error()})
			panic(http.ErrAbortHandler) // close the connection: the body is incomplete
		}
	}
}

// byteRange is a single `bytes=first-last` range; last is -1 for `bytes=first-`.
type byteRange struct {
	first, last int64
}

// length is the ReadFileContent length of the range (0 = to the end).
func (b byteRange) length() int64 {
	if b.last < 0 {
		return 0
	}
	return b.last - b.first + 1
}

// parseRange reads `bytes=a-b` and `bytes=a-`; anything else (no header, a suffix range, several
// ranges, a malformed one) is reported as no range.
func parseRange(header string) (byteRange, bool) {
	spec := strings.TrimSpace(header)
	if !strings.HasPrefix(spec, "bytes=") || strings.Contains(spec, ",") {
		return byteRange{}, false
	}
	first, last, found := strings.Cut(strings.TrimPrefix(spec, "bytes="), "-")
	if !found || first == "" {
		return byteRange{}, false
	}
	start, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil || start < 0 {
		return byteRange{}, false
	}
	if strings.TrimSpace(last) == "" {
		return byteRange{first: start, last: -1}, true
	}
	end, err := strconv.ParseInt(strings.TrimSpace(last), 10, 64)
	if err != nil || end < start {
		return byteRange{}, false
	}
	return byteRange{first: start, last: end}, true
}

// badRange reports whether err is the server's INVALID_RANGE for an offset beyond the size, and
// that size.
func badRange(err error) (int64, bool) {
	st := status.Convert(err)
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok && info.GetReason() == "INVALID_RANGE" {
			size, parseErr := strconv.ParseInt(info.GetMetadata()["size"], 10, 64)
			return size, parseErr == nil
		}
	}
	return 0, false
}

// unsatisfiable answers 416 with `Content-Range: bytes */size`, as RFC 9110 asks.
func unsatisfiable(w http.ResponseWriter, size int64) {
	w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
	writeBody(w, http.StatusRequestedRangeNotSatisfiable, errorBody{
		Code:    "RANGE_NOT_SATISFIABLE",
		Message: "The requested range starts beyond the end of the file.",
		Status:  http.StatusRequestedRangeNotSatisfiable,
		Details: map[string]string{"size": strconv.FormatInt(size, 10)},
	})
}
