package main

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rawMIME is the content type under which rawChunks decodes request bodies.
const rawMIME = "application/octet-stream"

// chunkField is the multipart form field that carries a chunk (the specification's clients send
// `formData.append('chunk', blob)`).
const chunkField = "chunk"

// chunkBodies lets POST /api/files/upload/chunk/{taskId}/{chunkIndex} take the chunk three ways:
// JSON (`{"data": "<base64>", "crc32c": N}`, the transcoded message), a raw body of any other
// content type, or multipart/form-data with the bytes in the `chunk` field. Raw and multipart
// bodies are streamed into the request's `data` field by rawChunks, never base64-encoded.
func chunkBodies(routes []route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !matches(routes, r) {
			next.ServeHTTP(w, r)
			return
		}
		mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		case mediaType == "multipart/form-data":
			part, err := formFile(r.Body, params["boundary"])
			if err != nil {
				writeError(r.Context(), nil, nil, w, r, status.Error(codes.InvalidArgument, err.Error()))
				return
			}
			r.Body = sizedBody{Reader: part, Closer: r.Body, limit: r.ContentLength}
			r.Header.Set("Content-Type", rawMIME)
		default:
			r.Body = sizedBody{Reader: r.Body, Closer: r.Body, limit: r.ContentLength, exact: r.ContentLength >= 0}
			r.Header.Set("Content-Type", rawMIME)
		}
		next.ServeHTTP(w, r)
	})
}

// formFile is the reader of the `chunk` part of a multipart body (the parts before it are skipped).
func formFile(body io.Reader, boundary string) (io.Reader, error) {
	if boundary == "" {
		return nil, fmt.Errorf("the multipart body has no boundary")
	}
	reader := multipart.NewReader(body, boundary)
	for {
		part, err := reader.NextPart()
		if err == io.EOF {
			return nil, fmt.Errorf("the multipart body has no %q field", chunkField)
		}
		if err != nil {
			return nil, fmt.Errorf("malformed multipart body: %v", err)
		}
		if part.FormName() == chunkField {
			return part, nil
		}
	}
}

// sizedBody is a request body with what is known of its length: exact (Content-Length of a raw
// body) or an upper bound (the whole multipart body), so the decoder allocates once.
type sizedBody struct {
	io.Reader
	io.Closer
	limit int64
	exact bool
}

// rawChunks decodes a request body into the request message's `data` bytes field as is; it
// encodes responses as JSON (the outbound marshaler of a request is its inbound one by default).
type rawChunks struct {
	*runtime.JSONPb
}

// NewDecoder reads all of r into the `data` field of the message it decodes into.
func (m *rawChunks) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v interface{}) error {
		message, ok := v.(protoreflect.ProtoMessage)
		if !ok {
			return fmt.Errorf("a raw body cannot fill %T", v)
		}
		reflected := message.ProtoReflect()
		field := reflected.Descriptor().Fields().ByName("data")
		if field == nil || field.Kind() != protoreflect.BytesKind || field.IsList() {
			return fmt.Errorf("%s takes JSON, not %s", reflected.Descriptor().FullName(), rawMIME)
		}
		data, err := readBody(r)
		if err != nil {
			return err
		}
		reflected.Set(field, protoreflect.ValueOfBytes(data))
		return nil
	})
}

// readBody reads the whole body with one allocation when its size is known.
func readBody(r io.Reader) ([]byte, error) {
	sized, ok := r.(sizedBody)
	if !ok || sized.limit < 0 {
		return io.ReadAll(r)
	}
	data := make([]byte, sized.limit)
	n, err := io.ReadFull(sized.Reader, data)
	if sized.exact {
		if err != nil {
			return nil, err
		}
		return data, nil
	}
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	return data[:n], nil
}
