function(ctx) error "cancel"
