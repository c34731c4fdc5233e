"""Getting paid: payment gateways, saved payment methods, charges on the due date, refunds."""
