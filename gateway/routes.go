package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/golang/protobuf/proto"
	"github.com/grpc-ecosystem/grpc-gateway/protoc-gen-grpc-gateway/httprule"
	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// route is one HTTP binding of an RPC: its method and compiled path template.
type route struct {
	method  string
	pattern runtime.Pattern
}

// routesOf reads the google.api.http bindings (the rule and its additional_bindings) of
// service.method in file, so the hand-written handlers serve exactly the contract's paths.
func routesOf(file protoreflect.FileDescriptor, service, method string) ([]route, error) {
	svc := file.Services().ByName(protoreflect.Name(service))
	if svc == nil {
		return nil, fmt.Errorf("%s: no service %s", file.Path(), service)
	}
	md := svc.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, fmt.Errorf("%s: no method %s.%s", file.Path(), service, method)
	}
	extension, err := proto.GetExtension(proto.MessageV1(md.Options()), annotations.E_Http)
	if err != nil {
		return nil, fmt.Errorf("%s.%s has no google.api.http rule: %v", service, method, err)
	}
	rule := extension.(*annotations.HttpRule)
	var routes []route
	for _, binding := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
		verb, template := bindingOf(binding)
		if template == "" {
			return nil, fmt.Errorf("%s.%s: unsupported binding %v", service, method, binding)
		}
		compiler, err := httprule.Parse(template)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %v", service, method, err)
		}
		compiled := compiler.Compile()
		pattern, err := runtime.NewPattern(compiled.Version, compiled.OpCodes, compiled.Pool, compiled.Verb)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %v", service, method, err)
		}
		routes = append(routes, route{method: verb, pattern: pattern})
	}
	return routes, nil
}

func bindingOf(rule *annotations.HttpRule) (string, string) {
	switch {
	case rule.GetGet() != "":
		return http.MethodGet, rule.GetGet()
	case rule.GetPost() != "":
		return http.MethodPost, rule.GetPost()
	case rule.GetPut() != "":
		return http.MethodPut, rule.GetPut()
	case rule.GetPatch() != "":
		return http.MethodPatch, rule.GetPatch()
	case rule.GetDelete() != "":
		return http.MethodDelete, rule.GetDelete()
	}
	return "", ""
}

// matches reports whether r is a request for one of routes (method and path).
func matches(routes []route, r *http.Request) bool {
	components := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	last := len(components) - 1
	verb := ""
	if i := strings.LastIndex(components[last], ":"); i > 0 {
		components[last], verb = components[last][:i], components[last][i+1:]
	}
	for _, candidate := range routes {
		if candidate.method != r.Method {
			continue
		}
		if _, err := candidate.pattern.Match(components, verb); err == nil {
			return true
		}
	}
	return false
}
