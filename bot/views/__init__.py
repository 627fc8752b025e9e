"""What the bot shows: texts, keyboards, HTML messages and the helpers that send them."""
