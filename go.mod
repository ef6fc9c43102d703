module github.com/smscourier/smscourier

go 1.25.0

require (
	code.dny.dev/ssrf v0.3.0
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/google/go-jsonnet v0.22.0
	github.com/sony/gobreaker/v2 v2.4.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	go.yaml.in/yaml/v2 v2.4.2
	golang.org/x/sys v0.38.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/kr/text v0.2.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.45.0 // indirect
)
