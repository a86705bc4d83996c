package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorBody is the specification's error response:
//
//	{"code": "TASK_NOT_FOUND", "message": "...", "status": 404, "details": {"taskId": "..."}}
//
// code is the ErrorInfo reason (the gRPC code's name when there is none), status the HTTP status,
// details the ErrorInfo metadata (lowerCamelCase keys; {} when none).
type errorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Status  int               `json:"status"`
	Details map[string]string `json:"details"`
}

// httpStatus maps gRPC codes to HTTP as DESIGN §2 says. It differs from the usual table (and from
// grpc-gateway's) in one place: FAILED_PRECONDITION is 400, not 412, as in the specification.
func httpStatus(code codes.Code) int {
	switch code {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Canceled:
		return 499 // client closed request
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default: // Unknown, Internal, DataLoss
		return http.StatusInternalServerError
	}
}

// writeError is the mux's error handler: every failed call and every routing failure answers
// with errorBody. A RetryInfo detail becomes Retry-After (whole seconds, rounded up);
// UNAUTHENTICATED gets WWW-Authenticate: Bearer.
func writeError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	st := status.Convert(err)
	body := bodyOf(st)
	// The runtime reports routing failures as UNIMPLEMENTED with the HTTP status text.
	if st.Code() == codes.Unimplemented {
		switch st.Message() {
		case http.StatusText(http.StatusNotImplemented):
			body = errorBody{Code: "NOT_FOUND", Message: "No such path.", Status: http.StatusNotFound}
		case http.StatusText(http.StatusMethodNotAllowed):
			body = errorBody{Code: "METHOD_NOT_ALLOWED", Message: "This path does not take this method.", Status: http.StatusMethodNotAllowed}
		}
	}
	if delay, ok := retryDelay(st); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(delay, 10))
	}
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeBody(w, body.Status, body)
}

// bodyOf is the errorBody of a gRPC status.
func bodyOf(st *status.Status) errorBody {
	body := errorBody{
		Code:    st.Code().String(),
		Message: st.Message(),
		Status:  httpStatus(st.Code()),
		Details: map[string]string{},
	}
	if name, ok := codeNames[st.Code()]; ok {
		body.Code = name
	}
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			body.Code = info.GetReason()
			for key, value := range info.GetMetadata() {
				body.Details[key] = value
			}
		}
	}
	return body
}

// retryDelay is the RetryInfo delay of st in whole seconds (at least 1), if it has one.
func retryDelay(st *status.Status) (int64, bool) {
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.RetryInfo); ok && info.GetRetryDelay() != nil {
			seconds := math.Ceil(info.GetRetryDelay().AsDuration().Seconds())
			return int64(math.Max(seconds, 1)), true
		}
	}
	return 0, false
}

// writeBody writes an errorBody as JSON with the given HTTP status.
func writeBody(w http.ResponseWriter, code int, body errorBody) {
	if body.Details == nil {
		body.Details = map[string]string{}
	}
	data, _ := json.Marshal(body)
	w.Header().Del("Trailer")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(data)
}

// codeNames spells gRPC codes as google.rpc.Code does (UPPER_SNAKE), for errors without ErrorInfo.
var codeNames = map[codes.Code]string{
	codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
	codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND",
	codes.AlreadyExists: "ALREADY_EXISTS", codes.PermissionDenied: "PERMISSION_DENIED",
	codes.ResourceExhausted: "RESOURCE_EXHAUSTED", codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

func formatInt(value int64) string { return strconv.FormatInt(value, 10) }
