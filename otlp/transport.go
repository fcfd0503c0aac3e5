package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// sender sends encoded ExportLogsServiceRequests to a collector: OTLP/HTTP
// with a protobuf body, or OTLP/gRPC's LogsService/Export.
type sender interface {
	send(ctx context.Context, req []byte) error
	close() error
}

// newSender makes the sender of an endpoint URL.
func newSender(endpoint string) (sender, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--otlp-endpoint %q: want http://HOST:PORT (OTLP/HTTP) or grpc://HOST:PORT (OTLP/gRPC)", endpoint)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/logs"
		}
		return &httpSender{url: u.String(), client: &http.Client{}}, nil
	case "grpc", "grpcs":
		creds := insecure.NewCredentials()
		if u.Scheme == "grpcs" {
			creds = credentials.NewTLS(&tls.Config{})
		}
		conn, err := grpc.NewClient(u.Host, grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, fmt.Errorf("--otlp-endpoint %q: %w", endpoint, err)
		}
		return &grpcSender{conn: conn}, nil
	}
	return nil, fmt.Errorf("--otlp-endpoint %q: scheme %q is not http, https, grpc or grpcs", endpoint, u.Scheme)
}

// httpSender posts requests (OTLP/HTTP, binary protobuf).
type httpSender struct {
	url    string
	client *http.Client
}

func (s *httpSender) send(ctx context.Context, req []byte) error {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(req))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := s.client.Do(r)
	if err != nil {
		return err
	}
	// The body (an ExportLogsServiceResponse, or a Status) is read to
	// reuse the connection.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("OTLP/HTTP %s: %s %q", s.url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

func (s *httpSender) close() error {
	s.client.CloseIdleConnections()
	return nil
}

// grpcSender calls LogsService/Export with the request's bytes as they
// are (rawCodec).
type grpcSender struct {
	conn *grpc.ClientConn
}

const exportMethod = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

func (s *grpcSender) send(ctx context.Context, req []byte) error {
	var resp rawMessage
	return s.conn.Invoke(ctx, exportMethod, rawMessage(req), &resp, grpc.ForceCodec(rawCodec{}))
}

func (s *grpcSender) close() error { return s.conn.Close() }

// rawMessage is a message already encoded; rawCodec passes it through.
type rawMessage []byte

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(rawMessage)
	if !ok {
		return nil, fmt.Errorf("otlp: cannot send a %T", v)
	}
	return m, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("otlp: cannot receive into a %T", v)
	}
	*m = append((*m)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }
