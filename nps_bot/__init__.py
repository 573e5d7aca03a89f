"""nps-bot: NPS surveys from your help desk, answered and reported in chat."""
