// Echoes the whole template context, to test what ctx holds.
function(ctx) ctx
