"""Operations: the night window, run modes by weekday, render budgets."""
