package cloud

import "context"

func (s *Service) registerProtocols()             {}
func (s *Service) unregisterProtocols()           {}
func (s *Service) backupLoop(ctx context.Context) { <-ctx.Done() }
