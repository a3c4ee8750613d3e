"""What every layer shares and nothing else: errors, records, DN, fields, phone numbers,
BER, the bases of settings models."""
