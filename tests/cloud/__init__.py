"""Local fakes of cloud services (Microsoft Graph and Entra ID so far) that follow the
documented protocols, served over HTTPS on a loopback port; see ``service.py``."""
