"""Reading Russian customer text: numbers, amounts, rates, terms and phones."""
