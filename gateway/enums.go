package main

import (
	"net/http"
	"strings"
	"unicode"

	drive "drivegw/gen/drive_v1"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// seedEnumQueries accepts the specification's enum spellings in query strings
// (`?status=InProgress`, `?type=FileUpload`) beside the proto names every transcoder reads
// (`?status=TASK_STATUS_IN_PROGRESS`): a CamelCase value of a `status`, `type` or `types`
// parameter that names a value of drive.v1.TaskStatus / TaskType is rewritten to the proto name.
// Anything else is left alone (and refused later if it is no enum value).
func seedEnumQueries(next http.Handler) http.Handler {
	enums := drive.File_drive_v1_task_enums_proto.Enums()
	byParameter := map[string]protoreflect.EnumDescriptor{
		"status": enums.ByName("TaskStatus"),
		"type":   enums.ByName("TaskType"),
		"types":  enums.ByName("TaskType"),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query := r.URL.Query()
		changed := false
		for parameter, enum := range byParameter {
			values := query[parameter]
			for i, value := range values {
				if name, ok := protoName(enum, value); ok {
					values[i], changed = name, true
				}
			}
		}
		if changed {
			r.URL.RawQuery = query.Encode()
		}
		next.ServeHTTP(w, r)
	})
}

// protoName is the proto name of the enum value the seed spells `value` (InProgress ->
// TASK_STATUS_IN_PROGRESS), if there is one.
func protoName(enum protoreflect.EnumDescriptor, value string) (string, bool) {
	if value == "" || !unicode.IsUpper(rune(value[0])) || strings.ContainsAny(value, "_0123456789") {
		return "", false
	}
	name := strings.ToUpper(camelToSnake(string(enum.Name())) + "_" + camelToSnake(value))
	if enum.Values().ByName(protoreflect.Name(name)) == nil {
		return "", false
	}
	return name, true
}

// camelToSnake turns TaskStatus into task_status.
func camelToSnake(name string) string {
	var snake strings.Builder
	for i, letter := range name {
		if i > 0 && unicode.IsUpper(letter) {
			snake.WriteByte('_')
		}
		snake.WriteRune(unicode.ToLower(letter))
	}
	return snake.String()
}
