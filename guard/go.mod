module github.com/smscourier/smscourier/guard

go 1.26.0

require github.com/smscourier/smscourier v0.1.0
