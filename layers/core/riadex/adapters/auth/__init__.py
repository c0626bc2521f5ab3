"""Who is calling: local HS256 tokens and Cognito claims."""
