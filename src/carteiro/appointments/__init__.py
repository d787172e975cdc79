"""Appointments (agendamentos): booking, reminders, calendar invitations, notifications."""
