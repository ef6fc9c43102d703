module github.com/smscourier/smscourier/guard

go 1.26.0
